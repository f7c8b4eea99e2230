"""The kube-report adapter's reading of the report's program output (harness/probes/cliclient/kube_report.py).

WRONG_CA, FORBIDDEN and PANIC are what the real programs printed (eyre 0.6.12, rustls 0.23.12,
Rust 1.95); the other texts are made up for the parsing rules. The integration tests
(tests/integration/test_kube.py) run the programs themselves.
"""
from __future__ import annotations

import pytest

from tlsmatrix.stacks.classify import classify_error
from tlsmatrix.model.core import Outcome
from tlsmatrix.probes.cliclient.common import JobError, Run, Workdir, parse_job
from tlsmatrix.probes.cliclient.kube_report import KubeReport, crash_text, report_text

WRONG_CA = """Error: ServiceError: client error (Connect)

Caused by:
   0: client error (Connect)
   1: invalid peer certificate: UnknownIssuer

Location:
    src/bin/install-aws-lc-rs.rs:18:31
"""
_DENIED = 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"'
FORBIDDEN = (
    f'Error: ApiError: {_DENIED}: Forbidden (ErrorResponse {{ status: "Failure", message: '
    + '"' + _DENIED.replace('"', '\\"') + '", reason: "Forbidden", code: 403 })\n'
    + f"\nCaused by:\n    {_DENIED}: Forbidden\n\nLocation:\n    src/bin/install-aws-lc-rs.rs:18:31\n"
)
PANIC = """
thread 'main' (30295) panicked at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/rustls-0.23.12/src/crypto/mod.rs:259:14:
no process-level CryptoProvider available -- call CryptoProvider::install_default() before this point
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"""
PANIC_TEXT = ("crash: thread 'main' panicked at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/"
              "rustls-0.23.12/src/crypto/mod.rs:259:14: no process-level CryptoProvider available -- "
              "call CryptoProvider::install_default() before this point")


def run(returncode: int, stdout: str = "", stderr: str = "") -> Run:
    return Run(argv=["prog"], returncode=returncode, stdout=stdout, stderr=stderr, timed_out=False, done=False,
               elapsed_ms=1.0)


def test_eyre_report_is_joined_like_the_kube_probe_error():
    assert report_text(WRONG_CA) == "ServiceError: client error (Connect): invalid peer certificate: UnknownIssuer"


def test_a_cause_already_in_the_message_is_not_repeated_and_403_stays_tls_ok():
    text = report_text(FORBIDDEN)
    assert text.startswith("ApiError: pods is forbidden") and text.endswith("code: 403 })")
    c = classify_error("kube", text)
    assert c.outcome is Outcome.OK and c.short == "TLS ok; API answered HTTP 403"


def test_multi_line_causes_become_one_line_each():
    stderr = ("Error: outer\n\nCaused by:\n   0: middle line one\n      middle line two\n   1: inner\n\n"
              "Location:\n    src/main.rs:1:1\n")
    assert report_text(stderr) == "outer: middle line one middle line two: inner"
    assert report_text("Error: outer\n\nCaused by:\n    only cause\n    continued\n") == "outer: only cause continued"


def test_no_report_no_text():
    assert report_text("something else\n") is None


def test_panic_is_a_crash_without_the_thread_id():
    assert crash_text(run(101, stderr=PANIC)) == PANIC_TEXT
    older = "thread 'main' panicked at src/main.rs:2:5:\nboom\n  more\nnote: run with `RUST_BACKTRACE=1`\n"
    assert crash_text(run(101, stderr=older)) == "crash: thread 'main' panicked at src/main.rs:2:5: boom more"


def test_signal_is_a_crash_and_a_survived_panic_is_not():
    assert crash_text(run(-11, stderr="x\n")) == "crash: killed by SIGSEGV; its last output: x"
    assert crash_text(run(1, stderr=PANIC + WRONG_CA)) is None  # a task panicked, main reported an error
    assert crash_text(run(1, stderr=WRONG_CA)) is None


class _Program(KubeReport):
    name = "two-providers"
    program = "/nonexistent/two-providers"


@pytest.fixture
def program():
    workdir = Workdir()
    yield _Program(workdir)
    workdir.remove()


def test_interpret_pods_error_and_crash(program):
    ok = program.interpret(None, run(0, stdout="found 3 pods\n"))
    assert ok["ok"] and ok["negotiated"]["pods"] == 3
    failed = program.interpret(None, run(1, stderr=WRONG_CA))
    assert failed["error"].endswith("UnknownIssuer") and failed["error_detail"] == WRONG_CA.strip()
    assert classify_error("kube", failed["error"]).outcome is Outcome.UNTRUSTED
    crashed = program.interpret(None, run(101, stderr=PANIC))
    assert crashed["error"] == PANIC_TEXT and "(30295)" in crashed["error_detail"]
    c = classify_error("kube", crashed["error"])
    assert c.outcome is Outcome.CRASH and c.short.startswith("panic: no process-level CryptoProvider")
    silent = program.interpret(None, run(0, stdout="hello\n"))
    assert classify_error("kube", silent["error"]).outcome is Outcome.PROBE_ERROR


def test_every_built_program_has_a_provider_text():
    from tlsmatrix.stacks.build import KUBE_REPORT_PROGRAMS
    from tlsmatrix.probes.cliclient.kube_report import PROGRAMS, build_output

    assert set(PROGRAMS) == set(KUBE_REPORT_PROGRAMS)
    assert build_output("two-providers").endswith("/kube-report/two-providers")


def test_not_built_says_how_to_build(program):
    assert program.missing == "probe: /nonexistent/two-providers not built: run `tlsmatrix build kube-report`"


def test_job_carries_kubeconfig_and_client_credentials(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    base = {"id": "1", "host": "127.0.0.1", "port": 1, "servername": "localhost", "ca_file": str(ca)}
    job = parse_job({**base, "kubeconfig": "/k.yaml", "client_cert_file": "/c.pem", "client_key_file": "/k.pem"})
    assert (job.kubeconfig, job.client_cert_file, job.client_key_file) == ("/k.yaml", "/c.pem", "/k.pem")
    assert parse_job(base).kubeconfig is None
    with pytest.raises(JobError, match="go together"):
        parse_job({**base, "client_cert_file": "/c.pem"})
