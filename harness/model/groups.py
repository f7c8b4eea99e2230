"""Key-exchange groups: the names of IANA's TLS Supported Groups registry, their code points, and
the lists a scenario or ``--groups`` gives ("X25519MLKEM768:x25519", in preference order).

The code point is the one fact every stack shares: Go's ``tls.CurveID``, NSS' ``SSLNamedGroup``,
rustls' ``NamedGroup`` and wolfSSL's group ids are the registry's numbers; OpenSSL, GnuTLS and
Node take the names (OpenSSL matches them case-insensitively and knows ``P-256`` for
``secp256r1``). A probe gets the canonical names and, where its stack wants them, the numbers.
"""
from __future__ import annotations

from .errors import TlsmatrixError

#: canonical name → code point (https://www.iana.org/assignments/tls-parameters, "TLS Supported Groups")
GROUPS: dict[str, int] = {
    "secp256r1": 23, "secp384r1": 24, "secp521r1": 25, "x25519": 29, "x448": 30,
    "ffdhe2048": 256, "ffdhe3072": 257, "ffdhe4096": 258, "ffdhe6144": 259, "ffdhe8192": 260,
    # what older stacks still offer (wolfSSL, GnuTLS): named so a hello reads, rarely set
    "secp224r1": 21, "secp256k1": 22, "brainpoolP256r1": 26, "brainpoolP384r1": 27, "brainpoolP512r1": 28,
    "MLKEM512": 0x0200, "MLKEM768": 0x0201, "MLKEM1024": 0x0202,
    "SecP256r1MLKEM768": 0x11EB, "X25519MLKEM768": 0x11EC, "SecP384r1MLKEM1024": 0x11ED,
    # the draft hybrid Chrome 124-130 and Go 1.23 offered before X25519MLKEM768 was assigned
    "X25519Kyber768Draft00": 0x6399,
}

#: the groups with a post-quantum KEM in them (pure ML-KEM and the hybrids)
POST_QUANTUM = frozenset(n for n in GROUPS if "MLKEM" in n or "Kyber" in n)

#: a group setting that keeps the stack's own list
DEFAULT = "default"
#: in a client setting, the mark of a group the client sends a key share for (OpenSSL 3.5's syntax:
#: "*X25519MLKEM768:*x25519:secp256r1"); a setting without marks leaves the key shares to the stack
KEY_SHARE = "*"
#: how a probe or server program begins its answer when its stack cannot offer or accept a group
#: setting (docs/probe-contract.md): the cell is skipped, in the stack's words
UNSUPPORTED_GROUP = "unsupported group:"

_ALIASES = {name.lower(): name for name in GROUPS} | {
    "p-256": "secp256r1", "p256": "secp256r1", "prime256v1": "secp256r1",
    "p-384": "secp384r1", "p384": "secp384r1", "p-521": "secp521r1", "p521": "secp521r1",
    "curve25519": "x25519", "curve448": "x448",
    "x25519mlkem768": "X25519MLKEM768", "mlkem768x25519": "X25519MLKEM768",  # NSS' name
    "secp256r1mlkem768": "SecP256r1MLKEM768", "p256mlkem768": "SecP256r1MLKEM768",
    "secp384r1mlkem1024": "SecP384r1MLKEM1024", "p384mlkem1024": "SecP384r1MLKEM1024",
    "x25519kyber768draft00": "X25519Kyber768Draft00",
    "x25519-mlkem768": "X25519MLKEM768", "secp256r1-mlkem768": "SecP256r1MLKEM768",  # GnuTLS' names
    "secp384r1-mlkem1024": "SecP384r1MLKEM1024",
    # Go's CurveID names, GnuTLS' and NSS' spellings
    "curvep256": "secp256r1", "curvep384": "secp384r1", "curvep521": "secp521r1",
    "ec_curve25519": "x25519", "ec_secp256r1": "secp256r1", "ec_secp384r1": "secp384r1", "ec_secp521r1": "secp521r1",
}
_BY_CODE = {code: name for name, code in GROUPS.items()}


class GroupError(TlsmatrixError, ValueError):
    """A group name tlsmatrix does not know."""


def parse_group(text: str) -> str:
    """The canonical name of one group (aliases: P-256, prime256v1, X25519, mlkem768x25519, …)."""
    name = _ALIASES.get(str(text).strip().lower())
    if name is None:
        raise GroupError(f"unknown key-exchange group {text!r} (known: {', '.join(GROUPS)})")
    return name


def parse_groups(text: object, key_shares: bool = False) -> tuple[str, ...] | None:
    """A group setting: ``default`` (None: the stack's own list) or names separated by ``:`` or
    ``,`` in preference order (a list of strings too). Each group once. With ``key_shares`` (a
    client's setting) a name may carry the key-share mark: ``*x25519``."""
    if isinstance(text, (list, tuple)):
        parts = [str(t) for t in text]
    elif isinstance(text, str):
        if text.strip().lower() == DEFAULT:
            return None
        parts = text.replace(",", ":").split(":")
    else:
        raise GroupError(f"a group setting is a string like 'X25519MLKEM768:x25519' or 'default', got {text!r}")
    names = tuple(_setting_entry(p, key_shares) for p in parts if p.strip())
    if not names:
        raise GroupError(f"empty group setting {text!r} (say 'default' for the stack's own list)")
    if len(set(plain(names))) != len(names):
        raise GroupError(f"a group is named twice in {text!r}")
    return names


def _setting_entry(text: str, key_shares: bool) -> str:
    text = text.strip()
    if not text.startswith(KEY_SHARE):
        return parse_group(text)
    if not key_shares:
        raise GroupError(f"{text!r}: only a client sends key shares ('{KEY_SHARE}'); a server's setting names groups")
    return KEY_SHARE + parse_group(text[len(KEY_SHARE):])


def plain(groups: tuple[str, ...]) -> tuple[str, ...]:
    """A setting's groups without key-share marks."""
    return tuple(g.removeprefix(KEY_SHARE) for g in groups)


def key_shares(groups: tuple[str, ...] | None) -> tuple[str, ...]:
    """The groups a client setting marks for a key share (empty: the stack chooses)."""
    return tuple(g.removeprefix(KEY_SHARE) for g in groups or () if g.startswith(KEY_SHARE))


def label(groups: tuple[str, ...] | None) -> str:
    """How reports write a group setting (``default`` or ``a:b``)."""
    return DEFAULT if groups is None else ":".join(groups)


def name_of(code: int) -> str:
    """A code point's canonical name, or ``0x....`` for one the registry table here does not hold."""
    return _BY_CODE.get(code, f"0x{code:04x}")


def code_of(name: str) -> int:
    return GROUPS[name]


def row_server(server: str, accepts: tuple[str, ...] | None, offers: tuple[str, ...] | None) -> str:
    """A matrix row's server part: the stack, and the groups setting when it is not the default
    (``openssl@3.5 [accepts X25519MLKEM768]``): one row per setting."""
    parts = [f"accepts {label(accepts)}"] if accepts else []
    parts += [f"offers {label(offers)}"] if offers else []
    return f"{server} [{'; '.join(parts)}]" if parts else server


def group_fields(groups: tuple[str, ...] | None) -> dict[str, list]:
    """A job's or listener's ``groups`` and ``group_codes`` (nothing for the stack's own list), and a
    client's ``key_shares`` / ``key_share_codes`` when its setting marks them."""
    if groups is None:
        return {}
    names, shares = plain(groups), key_shares(groups)
    fields = {"groups": list(names), "group_codes": [GROUPS[g] for g in names]}
    if shares:
        fields |= {"key_shares": list(shares), "key_share_codes": [GROUPS[g] for g in shares]}
    return fields


def canonical(name: str | None) -> str | None:
    """A stack's name for a negotiated group in the registry's spelling (``X25519`` → ``x25519``,
    NSS' ``mlkem768x25519`` → ``X25519MLKEM768``); a name this table does not know stays as the stack said it."""
    if not name:
        return name
    text = name.strip().lower()
    if text.startswith("0x"):  # a probe that reads the code point off the wire (pyssl) names it so
        try:
            return name_of(int(text, 16))
        except ValueError:
            return name
    return _ALIASES.get(text, name)
