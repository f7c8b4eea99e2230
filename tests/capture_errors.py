"""Capture real error strings from every client stack into tests/data/errors.json.

Run: .venv/bin/python -m tests.capture_errors   (needs the probes built: make probes)
     .venv/bin/python -m tests.capture_errors --peers-only   (only the misbehaving-peer corpus,
     merged into the file: every other record stays as it is)
     .venv/bin/python -m tests.capture_errors --clients NAME[,NAME]   (only those client stacks,
     e.g. a new one, merged into the file: every other stack's records stay as they are)

Each case says what outcome it *is* (a wrong CA is `untrusted`, whatever the stack calls
it); tests/unit/test_classify.py checks that the classifier agrees on every string.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import tempfile
from pathlib import Path

import trustme

from tlsmatrix.certs.certread import pem_of, read_certificate_file, read_der
from tlsmatrix.model.groups import group_fields
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.stacks.clients.containers import VERSIONED
from tlsmatrix.model.defects import DEFECTS
from tlsmatrix.running.session import ProbeSession
from tlsmatrix.running.endpoints.base import ListenerSpec
from tlsmatrix.running.endpoints.misbehaving import BEHAVIOURS, MisbehavingEndpoint
from tlsmatrix.running.endpoints.process import ProcessEndpoint
from tlsmatrix.running.endpoints.silent import SilentEndpoint
from tlsmatrix.model.core import CertSpec, ChainSpec, Job, KeySpec
from tlsmatrix.certs.pki import CertificateCache
from tlsmatrix.stacks.servers import SERVERS

OUT = Path(__file__).resolve().parent / "data" / "errors.json"
#: the corpus runs this often per stack, so a wording that varies between runs (EOF or reset) is caught
PEER_REPETITIONS = 5
PEER_CASE_PREFIX = "peer: "


#: (client, case) -> the outcome its own words support where a version cannot tell: Node 12 drops the
#: server's alert when the peer closes right after it and reports the disconnected socket (ECONNRESET)
STACK_LIMITS = {
    ("node@12", "client TLS 1.3, server TLS 1.2"): "connection",
    ("node@12", "peer: handshake_failure alert"): "connection",
    # Node 12 drops every alert the server sends before its hello (docs/stacks.md)
    ("node@12", "peer: parses the ClientHello from one 1460-byte read"): "connection",
    ("node@12", "peer: illegal_parameter alert for an ML-KEM group"): "connection",
}


P256 = CertSpec(KeySpec("P-256"))


def spec(root, leaf, expired=False):
    return ChainSpec(CertSpec(KeySpec.parse(root)), CertSpec(KeySpec.parse(leaf)), expired=expired)


def capture_peer_corpus(run, peer: MisbehavingEndpoint, ca_file: Path) -> None:
    """Every misbehaving-peer behaviour, expected in its one documented class."""
    for _ in range(PEER_REPETITIONS):
        for b in BEHAVIOURS.values():
            run(b.case, peer.ports[b.name], ca_file, tls=b.tls, timeout_ms=500 if b.stalls else 5000,
                expected=b.outcome.value, groups=b.groups)


def distinct(records: list[dict]) -> list[dict]:
    """One record per (client, case, wording); ports and other numbers do not make a new wording."""
    seen, out = set(), []
    for r in records:
        key = (r["client"], r["case"], re.sub(r"\d+", "N", f"{r['error']}|{r['error_detail']}"))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def merge_records(new: list[dict], peers_only: bool, clients: set[str] | None) -> list[dict]:
    """The existing file with the records this run recaptured (its peer records, its clients' records)
    replaced by ``new``, grouped by client in registry order (stable: keeps each client's order)."""
    def recaptured(r: dict) -> bool:
        return (not peers_only or r["case"].startswith(PEER_CASE_PREFIX)) and (not clients or r["client"] in clients)

    kept = [r for r in json.loads(OUT.read_text()) if not recaptured(r)]
    order = {name: i for i, name in enumerate(CLIENTS)}
    return sorted(kept + new, key=lambda r: order.get(r["client"], len(order)))


def parse_args(argv: list[str]) -> tuple[bool, set[str] | None]:
    """(--peers-only, the client stacks of --clients or None for all)."""
    clients = None
    if "--clients" in argv:
        i = argv.index("--clients")
        clients = set(argv[i + 1].split(",")) if i + 1 < len(argv) else set()
        unknown = clients - set(CLIENTS)
        if not clients or unknown:
            sys.exit(f"--clients: unknown client stack(s) {sorted(unknown)} (known: {', '.join(CLIENTS)})")
    return "--peers-only" in argv, clients


def capture_cases(other_ca: Path) -> list[tuple]:
    """The handshakes every client stack gets (besides the silent peer, closed port, unreadable CA
    file and the misbehaving peers); a stack's own cases name it in their last field."""
    # (case, chain, server, tls, servername, ca override, expected outcome, clients)
    # expected may be a dict client → outcome where versions of a stack differ
    ring = ["rustls-ring", "rustls-ring@0.23.12", "rustls-ring@0.21.12", "rustls-ring@0.21.0"]
    cases = [
        ("wrong CA", "good", "openssl", None, "localhost", other_ca, "untrusted", None),
        ("wrong name", "good", "openssl", None, "wrong.example", None, "hostname_mismatch", None),
        ("wrong IP", "good", "go", None, "127.0.0.2", None, "hostname_mismatch", None),
        ("expired leaf", "expired", "go", None, "localhost", None, "expired", None),
        ("client TLS 1.3, server TLS 1.2", "good", "openssl", "1.2", "localhost", None, "protocol_version", None),
        ("P-521 CA", "p521ca", "openssl", None, "localhost", None,
         {"rustls-ring": "unsupported_algorithm", "rustls-ring@0.23.12": "bad_signature",
          "rustls-ring@0.21.12": "bad_signature", "rustls-ring@0.21.0": "untrusted"}, ring),
        ("P-521 leaf, TLS 1.3", "p521leaf", "go", "1.3", "localhost", None, "handshake_failure", ring + ["boringssl"]),
        ("P-521 leaf, TLS 1.2, Go server", "p521leaf", "go", "1.2", "localhost", None,
         {"rustls-ring": "unsupported_algorithm", "rustls-ring@0.23.12": "bad_signature",
          "rustls-ring@0.21.12": "bad_signature", "rustls-ring@0.21.0": "bad_signature",
          "boringssl": "handshake_failure"}, ring + ["boringssl"]),
        ("P-521 leaf, TLS 1.2, OpenSSL server", "p521leaf", "openssl", "1.2", "localhost", None, "handshake_failure",
         ring + ["rustls-aws-lc-rs", "boringssl"]),
        ("Ed25519 CA", "ed25519", "openssl", None, "localhost", None, "unsupported_algorithm", ["tstclnt"]),
        ("Ed25519 leaf", "ed25519", "openssl", None, "localhost", None, "handshake_failure", ["boringssl"]),
        *_verdict_cases(),
    ]
    return cases


#: the columns the certificate-verdict cases run on: scenarios/certificate-verdicts.toml measured the host
#: ones, the same chains on the release columns (tls 1.3) the others
_HOST_VERDICT_CLIENTS = ["openssl", "rustls-ring", "rustls-aws-lc-rs", "rustls-ring@0.21.12", "go", "java", "node",
                         "gnutls", "gnutls-cli", "nss", "tstclnt", "boringssl", "libcurl", "curl", "openssl-cli",
                         "wolfssl"]
_VERDICT_CLIENTS = [*_HOST_VERDICT_CLIENTS, *VERSIONED]
_GNUTLS_ALL = [c for c in _VERDICT_CLIENTS if c.startswith("gnutls")]
#: (defect, the class every stack gives, exceptions measured) for capture_cases. GnuTLS names no
#: constraint ("violates the signer's constraints"), tstclnt 3.110 says unknown issuer, wolfSSL before
#: 5.7 finds no signer for a path too long
_VERDICTS = [
    ("leaf-eku-client-auth", "key_usage", {}),
    ("name-constraints-violation", "name_constraints", dict.fromkeys([*_GNUTLS_ALL, "tstclnt@3.110"], "untrusted")),
    ("path-length-exceeded", "basic_constraints",
     dict.fromkeys([*_GNUTLS_ALL, "tstclnt@3.110", "wolfssl", "wolfssl@4.6", "wolfssl@5.5"], "untrusted")),
    ("unknown-critical-extension", "critical_extension", {}),
]


def _verdict_cases() -> list[tuple]:
    """The certificate verdicts (issue 19), and a CA file with a certificate that does not parse."""
    cases = [(f"defect {d}", d, "go", "1.3", "localhost", None, {c: exceptions.get(c, outcome) for c in _VERDICT_CLIENTS},
              _VERDICT_CLIENTS) for d, outcome, exceptions in _VERDICTS]
    nss = [c for c in _VERDICT_CLIENTS if c.split("@")[0] in ("nss", "tstclnt")]
    cases.append(("defect ca-as-leaf", "ca-as-leaf", "go", "1.3", "localhost", None,
                  {"rustls-ring": "basic_constraints", "rustls-aws-lc-rs": "basic_constraints",
                   "rustls-ring@0.21.12": "basic_constraints", **dict.fromkeys(nss, "key_usage")},
                  ["rustls-ring", "rustls-aws-lc-rs", "rustls-ring@0.21.12", *nss]))
    refusing = [c for c in _HOST_VERDICT_CLIENTS if c not in ("node", "wolfssl", "openssl-cli")]
    cases.append(("malformed certificate in the CA file", "good", "go", "1.3", "localhost", "BAD_CA",
                  "ca_file_rejected", refusing))
    return cases


def main(argv: list[str] | None = None) -> int:
    peers_only, only_clients = parse_args(sys.argv[1:] if argv is None else argv)
    tmp = Path(tempfile.mkdtemp(prefix="tlsmatrix-capture-"))
    cache = CertificateCache(tmp / "pki")
    ca = trustme.CA()
    other_ca = tmp / "other-ca.pem"
    ca.cert_pem.write_to_path(str(other_ca))
    chains = {n: cache.chain(s) for n, s in {
        "good": spec("P-256", "P-256"), "expired": spec("P-256", "P-256", True),
        "p521ca": spec("P-521", "P-256"), "p521leaf": spec("P-256", "P-521"), "ed25519": spec("Ed25519", "Ed25519"),
        **{d: ChainSpec(P256, P256, intermediates=(P256,) * max(1, DEFECTS[d].min_intermediates), defect=d)
           for d in [*(v[0] for v in _VERDICTS), "ca-as-leaf"]},
    }.items()}
    bad_ca = tmp / "ca-with-a-malformed-certificate.pem"  # a root cut short, then the real root
    root = read_certificate_file(chains["good"].ca_file, "CA file")[0]
    bad_ca.write_bytes(pem_of([read_der(root.der[:-30]), root]))
    cases = capture_cases(other_ca)
    records = []
    with contextlib.ExitStack() as stack:
        endpoints = {}
        for name in ("openssl", "go"):
            server = SERVERS[name]
            specs = [ListenerSpec(f"{c}@{t}", f, t) for c, f in chains.items() for t in (None, "1.2", "1.3")]
            endpoints[name] = stack.enter_context(ProcessEndpoint(server, specs))
        silent = stack.enter_context(SilentEndpoint())
        peer = stack.enter_context(MisbehavingEndpoint())
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
        s.close()
        for client_name, client in CLIENTS.items():
            if client.needs_app or (only_clients and client_name not in only_clients):
                continue
            if client.unavailable_reason():
                print(f"skipping {client_name}: {client.unavailable_reason()}", file=sys.stderr)
                continue
            session = stack.enter_context(ProbeSession(client))
            info = session.start()

            def run(case, port, ca_file, servername="localhost", tls=None, timeout_ms=5000, expected=None, groups=None):
                # a peer of the post-quantum era gets the hybrid from the stacks that can be told to offer it;
                # one that lacks it answers in its own words (unsupported group): the default hello then
                fields = group_fields(groups) if groups and client.groups else {}
                raw = session.run(Job("1", "127.0.0.1", port, servername, str(ca_file), tls, timeout_ms, **fields))
                if not raw.ok and (raw.error or "").startswith("unsupported group:"):
                    raw = session.run(Job("1", "127.0.0.1", port, servername, str(ca_file), tls, timeout_ms))
                assert not raw.ok, (client_name, case, raw)
                records.append({"client": client_name, "family": client.family, "version": info.describe(),
                                "case": case, "expected": STACK_LIMITS.get((client_name, case), expected),
                                "error": raw.error,
                                "error_detail": raw.error_detail})

            if peers_only:
                capture_peer_corpus(run, peer, chains["good"].ca_file)
                continue
            for case, chain, server, tls, name, ca_override, expected, only in cases:
                if only and client_name not in only:
                    continue
                port = endpoints[server].listeners[f"{chain}@{tls}"].port
                run(case, port, bad_ca if ca_override == "BAD_CA" else ca_override or chains[chain].ca_file, name,
                    "1.3" if case.startswith("client TLS 1.3") else tls,
                    expected=expected[client_name] if isinstance(expected, dict) else expected)
            run("silent peer", silent.port, chains["good"].ca_file, timeout_ms=500, expected="timeout")
            run("closed port", closed_port, chains["good"].ca_file, expected="connection")
            run("unreadable CA file", endpoints["openssl"].listeners["good@None"].port, tmp / "missing.pem",
                expected="probe_error")
            capture_peer_corpus(run, peer, chains["good"].ca_file)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    records = distinct(records)
    if peers_only or only_clients:
        records = merge_records(records, peers_only, only_clients)
    OUT.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} captured errors to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
