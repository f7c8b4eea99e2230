"""Certificates tlsmatrix did not make: a malformed one is a finding, never an exception (issue 19).

Real DER (a chain of tlsmatrix's own, and trustme's, so two encoders) is mutated the ways a
broken or hostile server's certificate can be: bit flips, lengths that lie, truncation, a
duplicated element (a duplicated extension when the element is one), a wrong tag, changed OID
bytes. Whatever comes out goes through the diagnosis, as a chain and as a CA file, and through
the PEM reader: no exception escapes and every certificate that does not parse is named.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsmatrix.certs.certread import ForeignCert, pem_of, read_certificate_file, read_certificates, read_der
from tlsmatrix.model.document import Finding
from tlsmatrix.certs.diagnose import diagnose, diagnose_files
from tlsmatrix.model.core import CertSpec, ChainSpec, KeySpec

# --- a minimal DER walker (test only): the offsets of every element, to mutate structure ---------


def _elements(der: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[tuple[int, int, int]]:
    """(offset, header length, content length) of every TLV element, outermost first."""
    end = len(der) if end is None else end
    out, i = [], start
    while i < end and depth < 12:
        if i + 2 > end:
            break
        first_len = der[i + 1]
        if first_len < 0x80:
            hdr, length = 2, first_len
        else:
            n = first_len & 0x7F
            if n == 0 or n > 3 or i + 2 + n > end:
                break
            hdr, length = 2 + n, int.from_bytes(der[i + 2:i + 2 + n], "big")
        if i + hdr + length > end:
            break
        out.append((i, hdr, length))
        if der[i] & 0x20:  # constructed: walk inside
            out += _elements(der, i + hdr, i + hdr + length, depth + 1)
        i += hdr + length
    return out


def _mutate(der: bytes, kind: str, pick: int, byte: int) -> bytes:
    elements = _elements(der)
    off, hdr, length = elements[pick % len(elements)]
    if kind == "flip":
        pos = pick % len(der)
        return der[:pos] + bytes([der[pos] ^ (1 << (byte % 8))]) + der[pos + 1:]
    if kind == "length":  # the element's length lies (its last length byte changed)
        pos = off + hdr - 1
        return der[:pos] + bytes([(der[pos] + byte % 7 + 1) % 256]) + der[pos + 1:]
    if kind == "truncate":
        return der[:pick % len(der)]
    if kind == "duplicate":  # the element twice (the enclosing lengths now lie, or do not: both are tried)
        element = der[off:off + hdr + length]
        return der[:off] + element + der[off:]
    if kind == "tag":
        return der[:off] + bytes([byte]) + der[off + 1:]
    if kind == "oid":  # a byte inside an OBJECT IDENTIFIER (or the element's first content byte)
        oids = [e for e in elements if der[e[0]] == 0x06] or elements
        o, h, n = oids[pick % len(oids)]
        pos = o + h + (byte % max(n, 1)) if n else o
        return der[:pos] + bytes([byte]) + der[pos + 1:]
    raise AssertionError(kind)


def _duplicate_extension(der: bytes) -> bytes:
    """The certificate with its first extension twice, lengths fixed up: only the duplicate is wrong."""
    cert = x509.load_der_x509_certificate(der)
    value = cert.extensions[0].value.public_bytes()
    oid = cert.extensions[0].oid
    at = der.index(value)
    # the Extension SEQUENCE around that value: its OID, (a BOOLEAN,) an OCTET STRING holding it
    for off, hdr, length in _elements(der):
        if der[off] == 0x30 and off < at < off + hdr + length and off + hdr + length >= at + len(value) \
                and der[off + hdr] == 0x06 and _oid_at(der, off + hdr) == oid.dotted_string:
            ext = der[off:off + hdr + length]
            return _grow_parents(der, off, ext)
    raise AssertionError("no extension found")


def _oid_at(der: bytes, off: int) -> str:
    n = der[off + 1]
    body = der[off + 2:off + 2 + n]
    first = body[0]
    parts, value = [first // 40, first % 40], 0
    for b in body[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _grow_parents(der: bytes, off: int, insert: bytes) -> bytes:
    """Insert ``insert`` at ``off`` and grow every enclosing element's length by its size."""
    out = der[:off] + insert + der[off:]
    for o, hdr, length in sorted(_elements(der), reverse=True):
        if o < off < o + hdr + length:
            new = length + len(insert)
            if hdr == 2 and new < 0x80:
                header = bytes([out[o], new])
            else:
                size = (new.bit_length() + 7) // 8
                header = bytes([out[o], 0x80 | size]) + new.to_bytes(size, "big")
            out = out[:o] + header + out[o + hdr:]
    return out


# --- the real chains the mutations start from -----------------------------------------------------


class Chains(list):
    def __repr__(self) -> str:  # hypothesis prints its arguments: not 3 chains of DER
        return f"<{len(self)} real chains>"


@pytest.fixture(scope="module")
def chains(pki_cache) -> Chains:
    """(CA file DER, chain DER leaf first): tlsmatrix's own P-256 and RSA chains and trustme's."""
    out = []
    for key in ("P-256", "RSA-2048"):
        spec = ChainSpec(root=CertSpec(KeySpec(key)), leaf=CertSpec(KeySpec(key)), intermediates=(CertSpec(KeySpec(key)),))
        files = pki_cache.chain(spec)
        out.append(([c.der for c in read_certificate_file(files.ca_file, "CA")],
                    [c.der for c in read_certificate_file(files.cert_file, "chain")]))
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    out.append(([ca.cert_pem.bytes()], [leaf.cert_chain_pems[0].bytes()]))
    return Chains((_der_list(c), _der_list(s)) for c, s in out)


def _der_list(items: list[bytes]) -> list[bytes]:
    return [c.der for item in items for c in (read_certificates(item, "x") if item.startswith(b"-----") else [read_der(item)])]


KINDS = ["flip", "length", "truncate", "duplicate", "tag", "oid"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 2), where=st.integers(0, 5), kind=st.sampled_from(KINDS),
       pick=st.integers(0, 10_000), byte=st.integers(0, 255), in_ca=st.booleans())
def test_no_mutation_escapes_the_diagnosis(chains, which, where, kind, pick, byte, in_ca):
    ca, sent = (list(x) for x in chains[which])
    target = ca if in_ca else sent
    i = where % len(target)
    target[i] = _mutate(target[i], kind, pick, byte)
    findings = diagnose([read_der(d) for d in ca], [read_der(d) for d in sent], "localhost")
    assert all(isinstance(f, Finding) for f in findings)
    mutant = read_der(target[i])
    if mutant.problems:  # what does not parse is named, with the certificate and the field
        where_label = f"{'CA file' if in_ca else 'chain'}[{i}]"
        assert any(f.id in ("malformed-certificate", "unknown-algorithm") and where_label in f.detail for f in findings)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), pick=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_no_mutation_escapes_the_pem_files(chains, tmp_path_factory, kind, pick, byte):
    ca, sent = chains[0]
    sent = [sent[0], _mutate(sent[1], kind, pick, byte), *sent[2:]]
    d = tmp_path_factory.mktemp("pem")
    (d / "ca.pem").write_bytes(pem_of([read_der(x) for x in ca]))
    (d / "chain.pem").write_bytes(pem_of([read_der(x) for x in sent]))
    assert len(read_certificate_file(d / "chain.pem", "chain file")) == len(sent)  # none dropped, none refused
    diagnose_files(d / "ca.pem", d / "chain.pem", "localhost")


def test_a_duplicated_extension_is_named(chains):
    ca, sent = chains[0]
    dup = _duplicate_extension(sent[0])
    mutant = read_der(dup)
    assert mutant.cert is not None and [f for f, _ in mutant.problems] == ["extensions"]
    (finding, *_) = diagnose([read_der(d) for d in ca], [mutant, *map(read_der, sent[1:])], "localhost")
    assert finding.id == "malformed-certificate" and "chain[0]" in finding.detail
    assert "Duplicate" in finding.detail  # the parser's own words


def test_a_chain_file_with_one_malformed_certificate_is_diagnosed_not_refused(chains, tmp_path):
    ca, sent = chains[0]
    broken = sent[1][:40]  # the intermediate cut short
    (tmp_path / "ca.pem").write_bytes(pem_of([read_der(x) for x in ca]))
    (tmp_path / "chain.pem").write_bytes(pem_of([read_der(sent[0]), read_der(broken)]))
    findings = diagnose_files(tmp_path / "ca.pem", tmp_path / "chain.pem", "localhost")
    assert [f.id for f in findings][:2] == ["malformed-certificate", "missing-intermediate"]
    assert "chain[1]" in findings[0].detail and "certificate:" in findings[0].detail


def test_a_pem_block_with_broken_base64_is_kept_and_named(tmp_path):
    path = tmp_path / "chain.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB!!notbase64\n-----END CERTIFICATE-----\n")
    (cert,) = read_certificate_file(path, "chain file")
    assert cert.cert is None and cert.problems[0][0] == "PEM"


def test_a_file_without_any_certificate_is_refused_naming_it(tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(Exception, match=r"chain file .*key\.pem holds no PEM certificate block.*private key"):
        read_certificate_file(path, "chain file")


def test_pem_of_gives_back_the_exact_bytes(chains):
    ca, sent = chains[2]
    again = read_certificates(pem_of([read_der(d) for d in sent]), "x")
    assert [c.der for c in again] == sent
    assert isinstance(again[0], ForeignCert) and again[0].cert.public_bytes(Encoding.DER) == sent[0]


def test_read_der_reads_a_der_file(chains, tmp_path):
    ca, _ = chains[0]
    path = Path(tmp_path / "ca.der")
    path.write_bytes(ca[0])
    (cert,) = read_certificate_file(path, "CA file")
    assert cert.der == ca[0] and not cert.problems


# --- real public certificates: the roots of certifi's CA bundle (Mozilla's), every encoder of the web PKI ---

def _public_roots() -> list[bytes]:
    certifi = pytest.importorskip("certifi")
    return [c.der for c in read_certificate_file(certifi.where(), "certifi bundle")]


def test_every_real_public_root_reads_without_a_problem():
    roots = _public_roots()
    assert len(roots) > 100
    problems = {i: read_der(der).problems for i, der in enumerate(roots) if read_der(der).problems}
    assert not problems  # real certificates parse: a finding here would be tlsmatrix's bug


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 10_000), kind=st.sampled_from(KINDS), pick=st.integers(0, 10_000),
       byte=st.integers(0, 255), as_chain=st.booleans())
def test_no_mutation_of_a_real_public_certificate_escapes(chains, which, kind, pick, byte, as_chain):
    roots = _public_roots()
    mutant = read_der(_mutate(roots[which % len(roots)], kind, pick, byte))
    ca, sent = chains[0]
    if as_chain:  # a server that sends it, or it stands in the CA file
        findings = diagnose([read_der(d) for d in ca], [mutant, *map(read_der, sent[1:])], "localhost")
    else:
        findings = diagnose([mutant, *map(read_der, ca)], [read_der(d) for d in sent], "localhost")
    assert all(isinstance(f, Finding) for f in findings)
    if mutant.problems:
        assert any(f.id in ("malformed-certificate", "unknown-algorithm") for f in findings)


SLH_DSA = Path(__file__).parent.parent / "data" / "slh-dsa"


def test_an_algorithm_cryptography_cannot_read_is_named_and_not_taken_for_another_ca():
    """OpenSSL 3.5's SLH-DSA CA over a P-256 leaf: the diagnosis cannot check the signature, so it names
    the algorithm and does not guess that the CA file holds another CA of the same name."""
    findings = diagnose_files(SLH_DSA / "test-ca.pem", SLH_DSA / "test-leaf.pem", "localhost")
    ids = [f.id for f in findings]
    assert ids.count("unknown-algorithm") == 2 and "wrong-ca" not in ids and "missing-intermediate" not in ids
    assert all("(SLH-DSA-SHA2-128s)" in f.detail for f in findings if f.id == "unknown-algorithm")
