"""Our own process logic, with small stand-in probes (the real probes are in tests/integration)."""
from __future__ import annotations

import sys
import time

import pytest

from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.base import EndpointError, ListenerSpec
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.running.jsonproc import live_count
from tlsmatrix.model.core import Job, Outcome
from tlsmatrix.stacks.classify import classify
from tlsmatrix.stacks import Stack

HANGS_ON_SECOND = r"""
import json, sys, time
print(json.dumps({"hello": {"stack": "fake", "version": "1"}}), flush=True)
n = 0
for line in sys.stdin:
    n += 1
    job = json.loads(line)
    if n == 2:
        time.sleep(3600)
    print(json.dumps({"id": job["id"], "ok": True, "error": None, "negotiated": None, "elapsed_ms": 0}), flush=True)
"""

CRASHES = r"""
import json, sys
print(json.dumps({"hello": {"stack": "fake", "version": "1"}}), flush=True)
sys.stdin.readline()
sys.stderr.write("fatal: something broke inside the probe\n")
sys.exit(3)
"""


def fake(code: str) -> Stack:
    return Stack("fake", "openssl", "stand-in", argv=lambda: [sys.executable, "-c", code], missing=lambda: None)


def job(i: int, timeout_ms: int = 500) -> Job:
    return Job(str(i), "127.0.0.1", 1, "localhost", "/nonexistent", None, timeout_ms)


def test_hung_probe_is_killed_reported_as_timeout_and_restarted():
    session = ProbeSession(fake(HANGS_ON_SECOND), grace=0.5)
    session.start()
    first = session.proc.proc
    assert session.run(job(1)).ok
    started = time.monotonic()
    raw = session.run(job(2))
    assert time.monotonic() - started < 3
    assert classify("openssl", raw).outcome is Outcome.TIMEOUT
    assert session.restarts == 1
    assert first.poll() is not None  # the hung probe is gone
    assert session.run(job(3)).ok  # a fresh probe answers the next job
    second = session.proc
    session.close()
    assert second is not None and second.proc.poll() is not None


def test_crashing_probe_is_a_probe_error_with_its_stderr():
    session = ProbeSession(fake(CRASHES))
    session.start()
    proc = session.proc.proc
    raw = session.run(job(1))
    assert not raw.ok and classify("openssl", raw).outcome is Outcome.PROBE_ERROR
    assert "exit status 3" in raw.error_detail and "something broke inside the probe" in raw.error_detail
    session.close()
    assert proc.poll() == 3


def test_probe_that_cannot_start_names_the_command():
    stack = Stack("fake", "openssl", "stand-in", argv=lambda: ["/nonexistent/probe-binary"], missing=lambda: None)
    raw = ProbeSession(stack).run(job(1))
    assert raw.error.startswith("probe: cannot start")
    assert "/nonexistent/probe-binary" in raw.error_detail


def test_server_that_dies_during_start_raises_with_context(pki_cache):
    from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

    files = pki_cache.chain(ChainSpec(CertSpec(KeySpec("P-256")), CertSpec(KeySpec("P-256"))))
    before = live_count()
    dies = Stack("dying-server", "openssl", "stand-in",
                 argv=lambda: [sys.executable, "-c", "import sys; sys.stderr.write('cannot bind\\n'); sys.exit(4)"],
                 missing=lambda: None)
    with pytest.raises(EndpointError) as info:
        with ProcessEndpoint(dies, [ListenerSpec("L0", files, None)], ready_timeout=5):
            pass
    message = str(info.value)
    assert "dying-server" in message and "exit status 4" in message and "cannot bind" in message
    assert live_count() == before


def test_endpoints_refuse_non_loopback_addresses(pki_cache):
    stack = Stack("x", "openssl", "x", argv=lambda: ["true"], missing=lambda: None)
    with pytest.raises(EndpointError, match="loopback only"):
        ProcessEndpoint(stack, [], host="0.0.0.0")


def test_an_answer_line_is_handed_over_while_the_probe_keeps_its_stdout_open():
    """The pipes are buffered (an unbuffered pipe's readline is one read(2) per byte): the reader must
    still return each line as it comes, not wait for a full buffer or the probe's exit."""
    import io

    from tlsmatrix.running.jsonproc import JsonLineProcess

    code = "import sys, time\nsys.stdout.write('{\"a\": 1}\\n'); sys.stdout.flush(); time.sleep(60)"
    proc = JsonLineProcess([sys.executable, "-c", code])
    try:
        assert isinstance(proc.proc.stdout, io.BufferedReader)
        started = time.monotonic()
        assert proc.receive(10) == {"a": 1}
        assert time.monotonic() - started < 5
    finally:
        proc.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_session_counts_the_cpu_of_its_probes_and_of_the_tools_they_ran():
    """results.json's cpu_s of a client: its probe's CPU with the programs it waited for (a command-line
    tool per handshake), summed over the probes a session ran (a restart after a hang starts another)."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    code = HANGS_ON_SECOND.replace("    n += 1\n", f"    n += 1\n    import subprocess\n"
                                   f"    subprocess.run([sys.executable, '-c', {burn!r}])\n")
    session = ProbeSession(fake(code), grace=0.5)
    assert session.run(job(1)).ok
    assert not session.run(job(2)).ok  # the second job hangs: the session kills that probe (a restart)
    assert session.run(job(3)).ok  # a new probe
    session.close()
    assert session.restarts == 1
    assert session.cpu_s is not None and session.cpu_s >= 0.8  # three tools of 0.3 s, in two probes
