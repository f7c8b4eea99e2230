"""The outcome classes as the HTML page shows them: abbreviation, CSS class and meaning, once
for the matrix, its legend and the overview."""
from __future__ import annotations

from collections import OrderedDict


#: outcome → (abbreviation shown in the cell, CSS class, one-line meaning for the legend)
OUTCOMES: "OrderedDict[str, tuple[str, str, str]]" = OrderedDict([
    ("ok", ("ok", "o-ok", "handshake and verification succeeded")),
    ("chain_ok", ("chain", "o-chainok", "replay without the server's key: the chain was accepted, the handshake "
                                        "could not complete")),
    ("untrusted", ("untr", "o-untrusted", "chain not trusted (unknown issuer, no path)")),
    ("unsupported_algorithm", ("alg", "o-alg", "a signature or key algorithm the stack does not implement")),
    ("bad_signature", ("sig", "o-sig", "a signature did not verify")),
    ("hostname_mismatch", ("name", "o-name", "certificate does not match the server name")),
    ("expired", ("exp", "o-exp", "certificate outside its validity window")),
    ("key_usage", ("ku", "o-ku", "keyUsage / extendedKeyUsage forbid TLS server authentication")),
    ("name_constraints", ("nc", "o-nc", "a CA's nameConstraints exclude the name (or the stack refuses the constraint)")),
    ("basic_constraints", ("bc", "o-bc", "basicConstraints: path length exceeded, a CA certificate as the leaf")),
    ("critical_extension", ("crit", "o-crit", "a critical extension the stack does not process")),
    ("malformed_certificate", ("malf", "o-malf", "a certificate that does not parse (DER, a field, an extension)")),
    ("ca_file_rejected", ("ca!", "o-cafile", "the stack refuses a certificate of the CA file itself")),
    ("handshake_failure", ("hs", "o-hs", "handshake aborted (no common algorithm, alert)")),
    ("protocol_version", ("ver", "o-ver", "no common TLS version")),
    ("timeout", ("t/o", "o-timeout", "no answer in time")),
    ("connection", ("conn", "o-conn", "connection closed or refused")),
    ("not_tls", ("!tls", "o-nottls", "the peer answered, but not in TLS (plain HTTP, another protocol)")),
    ("crash", ("crash", "o-crash", "the client program under test aborted (panic, signal); its own words are the error")),
    ("probe_error", ("probe", "o-probe", "the client probe itself failed (harness problem)")),
    ("server_error", ("srv", "o-srv", "the server stack could not serve the chain (not the client's fault)")),
    ("skipped", ("—", "o-skipped", "not run (stack not available)")),
])


OTHER = ("?", "o-other", "an outcome this report does not know")


def outcome_info(outcome: str) -> tuple[str, str, str]:
    """(abbreviation, CSS class, meaning) of an outcome class (any class a newer version knows too)."""
    return OUTCOMES.get(outcome, OTHER)
