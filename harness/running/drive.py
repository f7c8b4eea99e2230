"""The client drive loop, shared by a matrix run (``runner.run_cells``) and ``probe()``: one long-lived
probe per client stack, all stacks in parallel, each stack's jobs in order, each answer classified.

A stack that is not available, or whose probe does not start, answers every job without running it
(``Handshake.not_run`` says why). When the caller is interrupted (Ctrl-C, SIGTERM raised as
KeyboardInterrupt) every probe is killed before the exception goes on: nothing outlives the run,
whoever called it, without a process-wide cleanup.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

from ..certs.tlswire import first_bytes, is_record_header
from ..model.groups import canonical
from ..stacks.classify import Classification, classify
from .session import ProbeSession
from ..model.document import StackEntry
from .jsonproc import ProcessError
from ..model.core import Job, Outcome, StackInfo
from ..stacks import Stack

#: why a client never ran a job
UNAVAILABLE, START_FAILED = "unavailable", "probe failed to start"
#: how many probes in containers (versioned stacks) run at once: 36 `docker run`s and their JVMs at
#: once kept two cores so busy that probes missed the 30 s hello deadline (measured)
CONTAINER_SLOTS = max(2, (os.cpu_count() or 2) * 2)


@dataclass(frozen=True)
class Handshake:
    """One client's classified answer to one job (or why it never ran it: ``not_run``)."""

    outcome: Outcome
    error: str | None = None
    short_error: str | None = None
    error_detail: str | None = None
    code: str | None = None  # the stack's own code for the error (harness/stacks/nativecodes.py)
    negotiated: dict[str, Any] | None = None
    elapsed_ms: float | None = None
    attempts: int = 1
    info: StackInfo | None = None  # the probe's hello (the newest, after a restart)
    not_run: str | None = None  # UNAVAILABLE (error: why, with the install hint) or START_FAILED


Record = Callable[[str, Hashable, Handshake], None]

#: classes a stack may give a peer that does not speak TLS at all, in its own words: NSS waits for
#: the 11 KB "record" an SSH banner announces and then sees the connection end
_TRANSPORT_SUSPECT = {Outcome.CONNECTION, Outcome.TIMEOUT, Outcome.HANDSHAKE_FAILURE}


def transport_fact(c: Classification, job: Job) -> Classification:
    """The transport fact over the stack's words: when the peer's first bytes cannot begin a TLS
    record, the cell is ``not_tls`` for every stack, whatever words its failure took. Looked at
    once per answer that could hide it (one extra connection, on failures only)."""
    if c.outcome not in _TRANSPORT_SUSPECT:
        return c
    first = first_bytes(job.host, job.port, job.servername, timeout_s=min(2.0, job.timeout_ms / 1000))
    if not first or is_record_header(first):
        return c
    return dataclasses.replace(c, outcome=Outcome.NOT_TLS, short=f"not TLS (the peer began with {first!r})",
                               rule="transport: the peer's first bytes are no TLS record header")


class ClientDriver:
    """Runs batches of jobs, one thread and one probe per client stack; ``record(stack, key, handshake)``
    is called as each answer comes in (from the stacks' threads). ``entries`` says afterwards what the
    results document says about each stack (version, restarts, or why it did not run)."""

    def __init__(self, clients: dict[str, Stack], retry_timeouts: bool = True,
                 probe_env: dict[str, str] | None = None) -> None:
        self.clients = clients
        self.probe_env = probe_env  # extra environment of every probe (the docker run's network)
        self.retry_timeouts = retry_timeouts  # a timed-out job is tried once more before it counts
        self.entries: dict[str, StackEntry] = {}
        self._sessions: list[ProbeSession] = []
        self._lock = threading.Lock()
        self._aborted = threading.Event()
        self._container_slots = threading.BoundedSemaphore(CONTAINER_SLOTS)

    def run(self, batches: dict[str, Sequence[tuple[Hashable, Job]]], record: Record) -> dict[str, StackEntry]:
        workers = [threading.Thread(target=self._drive, args=(name, batch, record), daemon=True, name=f"client-{name}")
                   for name, batch in batches.items()]
        try:
            for w in workers:
                w.start()
            for w in workers:
                while w.is_alive():
                    w.join(0.2)  # short joins keep Ctrl-C responsive in the main thread
        except BaseException:
            self.abort()
            raise
        return self.entries

    def abort(self) -> None:
        """Kill every probe now; threads still running start no job and no probe after this."""
        with self._lock:
            self._aborted.set()
            sessions = list(self._sessions)
        for session in sessions:
            session.kill()

    def _drive(self, name: str, batch: Sequence[tuple[Hashable, Job]], record: Record) -> None:
        client = self.clients[name]
        with self._container_slots if client.container else contextlib.nullcontext():
            self._drive_batch(client, name, batch, record)

    def _drive_batch(self, client: Stack, name: str, batch: Sequence[tuple[Hashable, Job]], record: Record) -> None:
        why = client.unavailable_reason()
        if why:
            self.entries[name] = StackEntry(available=False, reason=why)
            for key, _ in batch:
                record(name, key, Handshake(Outcome.SKIPPED, error=why, short_error="not available",
                                            not_run=UNAVAILABLE))
            return
        session = ProbeSession(client, env=self.probe_env)
        with self._lock:
            if self._aborted.is_set():
                return
            self._sessions.append(session)
        try:
            try:
                info = session.start()
            except ProcessError as exc:
                self.entries[name] = StackEntry(available=False, reason=f"probe failed to start: {exc}")
                for key, _ in batch:
                    record(name, key, Handshake(Outcome.PROBE_ERROR, error=f"probe: {exc.short}", error_detail=str(exc),
                                                short_error=START_FAILED, not_run=START_FAILED))
                return
            for key, job in batch:
                if self._aborted.is_set():
                    return
                record(name, key, self.handshake(session, client, job, info))
        finally:
            session.close()
        # a container's probe is the docker client here: its CPU would say nothing about the stack
        self.entries[name] = StackEntry(available=True, info=info, restarts=session.restarts,
                                        cpu_s=None if client.container else session.cpu_s)

    def handshake(self, session: ProbeSession, client: Stack, job: Job, info: StackInfo) -> Handshake:
        client_cert = job.client_cert_file is not None
        raw = session.run(job)
        c = classify(client.family, raw, client_cert=client_cert)
        attempts = 1
        if c.outcome is Outcome.TIMEOUT and self.retry_timeouts and not self._aborted.is_set():
            # a noisy runner should not page anyone: one more try before a timeout counts
            raw = session.run(job)
            c = classify(client.family, raw, client_cert=client_cert)
            attempts = 2
        c = transport_fact(c, job)
        return Handshake(c.outcome, error=raw.error, short_error=c.short, error_detail=raw.error_detail, code=c.code,
                         negotiated=negotiated(raw.negotiated), elapsed_ms=raw.elapsed_ms, attempts=attempts,
                         info=session.info or info)


def negotiated(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """A probe's ``negotiated`` with the group in the registry's spelling, whichever stack named it, and
    ``hrr`` present (null: the probe cannot tell whether a HelloRetryRequest happened)."""
    if not isinstance(fields, dict):
        return fields
    return {**fields, "group": canonical(fields.get("group")), "hrr": fields.get("hrr")}
