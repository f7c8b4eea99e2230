"""The key-exchange group axis through real handshakes on the host's stacks: the group each side is
restricted to is the one negotiated, a HelloRetryRequest shows on the cell, a stack that lacks a
group is skipped in its own words, one that cannot restrict its list is skipped by the harness."""
from __future__ import annotations

import pytest

import tlsmatrix
import tlsmatrix.api

from .conftest import run_text

pytestmark = pytest.mark.integration

SCENARIO = """
name = "kx-axis"
[axes]
servers = ["openssl", "go", "rustls-aws-lc-rs"]
tls = ["1.3", "1.2"]
clients = ["openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "node", "openssl-cli", "java", "nss", "gnutls",
           "wolfssl", "libcurl", "curl", "gnutls-cli", "tstclnt", "rustls-ring@0.21.12", "boringssl"]
server_groups = ["default", "secp384r1"]
client_groups = ["default", "secp256r1:x25519", "X25519MLKEM768"]
[[chain]]
root = "P-256"
leaf = "P-256"
"""


@pytest.fixture(scope="module")
def cells(tmp_path_factory, pki_cache):
    return {(c.server, tuple(c.server_groups or ()), tuple(c.client_groups or ()), c.tls, c.client): c
            for c in run_text(tmp_path_factory.mktemp("kx"), SCENARIO, pki_cache)}


#: they report the group and whether a HelloRetryRequest came
TLS_CLIENTS = ("openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "java")
#: they restrict what they offer on the host (Java 17 cannot per connection)
RESTRICTING = ("openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "openssl-cli", "gnutls", "nss", "libcurl", "curl",
               "wolfssl", "gnutls-cli", "tstclnt", "rustls-ring@0.21.12", "boringssl")


@pytest.mark.parametrize("server", ["openssl", "go", "rustls-aws-lc-rs"])
@pytest.mark.parametrize("client", TLS_CLIENTS)
def test_a_server_restricted_to_one_group_negotiates_it_after_a_hello_retry(cells, server, client):
    c = cells[(server, ("secp384r1",), (), "1.3", client)]
    assert c.outcome == "ok", c.error
    assert c.negotiated["group"] == "secp384r1" and c.negotiated["hrr"] is True
    plain = cells[(server, (), (), "1.3", client)]
    assert plain.negotiated["hrr"] is False and plain.negotiated["group"] != "secp384r1"


@pytest.mark.parametrize("client", ["openssl-cli", "gnutls", "libcurl", "curl", "boringssl"])
def test_the_tools_that_show_their_server_hellos_tell_a_retry(cells, client):
    """s_client -msg, curl's trace, GnuTLS' handshake hook, libcurl's OpenSSL message callback: two
    ServerHellos (the first a HelloRetryRequest) or one."""
    assert cells[("go", ("secp384r1",), (), "1.3", client)].negotiated["hrr"] is True
    assert cells[("go", (), (), "1.3", client)].negotiated["hrr"] is False
    assert cells[("go", ("secp384r1",), (), "1.2", client)].negotiated["hrr"] is False


def test_a_probe_that_cannot_see_a_retry_says_unknown(cells):
    for client in ("node", "nss", "tstclnt", "gnutls-cli", "rustls-ring@0.21.12"):
        assert cells[("go", ("secp384r1",), (), "1.3", client)].negotiated["hrr"] is None, client


@pytest.mark.parametrize("server", ["openssl", "go", "rustls-aws-lc-rs"])
@pytest.mark.parametrize("client", RESTRICTING)
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_no_common_group_is_a_negotiation_failure(cells, server, client, tls):
    c = cells[(server, ("secp384r1",), ("secp256r1", "x25519"), tls, client)]
    assert c.outcome == "handshake_failure", c.error


@pytest.mark.parametrize("client", ("openssl", "go", "rustls-ring", "openssl-cli", "gnutls", "libcurl", "curl",
                                    "wolfssl", "gnutls-cli", "tstclnt", "rustls-ring@0.21.12"))
def test_a_stack_without_ml_kem_says_so_and_is_skipped(cells, client):
    c = cells[("go", (), ("X25519MLKEM768",), "1.3", client)]
    assert c.outcome == "skipped" and c.error.startswith("unsupported group:"), c.error


def test_rustls_with_aws_lc_rs_negotiates_the_hybrid(cells):
    c = cells[("rustls-aws-lc-rs", (), ("X25519MLKEM768",), "1.3", "rustls-aws-lc-rs")]
    assert c.outcome == "ok" and c.negotiated["group"] == "X25519MLKEM768" and c.negotiated["hrr"] is False


def test_a_probe_that_cannot_restrict_groups_is_skipped_by_the_harness(tmp_path, pki_cache):
    """The Kubernetes clients build their TLS inside kube-rs / the Python client: no group setting."""
    text = ('name = "kube-kx"\napp = "kubernetes"\n[axes]\ntls = ["1.3"]\nservers = ["go"]\n'
            'clients = ["kube-latest-rustls", "kubernetes-python"]\n'
            'client_groups = ["default", "secp256r1"]\n[[chain]]\nroot = "P-256"\nleaf = "P-256"\n')
    cells = {(c.client, tuple(c.client_groups or ())): c for c in run_text(tmp_path, text, pki_cache)}
    for client in ("kube-latest-rustls", "kubernetes-python"):
        c = cells[(client, ("secp256r1",))]
        assert c.outcome == "skipped" and "cannot restrict the key-exchange groups" in c.error, c
        assert cells[(client, ())].outcome == "ok"


def test_boringssl_offers_the_groups_it_is_given(cells):
    """curl_cffi's BoringSSL takes the list (CURLOPT_SSL_EC_CURVES) but names no negotiated group."""
    assert cells[("go", ("secp384r1",), (), "1.3", "boringssl")].outcome == "ok"
    hybrid = cells[("rustls-aws-lc-rs", (), ("X25519MLKEM768",), "1.3", "boringssl")]
    assert hybrid.outcome == "ok", hybrid
    assert cells[("go", (), ("secp256r1", "x25519"), "1.3", "boringssl")].negotiated["group"] is None


@pytest.mark.parametrize("server", ["openssl", "go", "rustls-aws-lc-rs"])
@pytest.mark.parametrize("client", ["wolfssl", "gnutls-cli"])
def test_wolfssl_and_gnutls_cli_offer_the_groups_they_are_given(cells, server, client):
    """Both report the negotiated group: it is the first of those given the server takes."""
    for tls in ("1.2", "1.3"):
        c = cells[(server, (), ("secp256r1", "x25519"), tls, client)]
        assert c.outcome == "ok" and c.negotiated["group"] in ("secp256r1", "x25519"), c
    restricted = cells[(server, ("secp384r1",), (), "1.3", client)]
    assert restricted.outcome == "ok" and restricted.negotiated["group"] == "secp384r1", restricted


def test_java_17_says_it_cannot_restrict_its_groups_per_connection(cells):
    c = cells[("go", (), ("secp256r1", "x25519"), "1.3", "java")]
    assert c.outcome == "skipped" and "setNamedGroups is Java 20+" in c.error, c.error


def test_list_json_shows_each_column_s_own_hello():
    """What a column offers by default is measured from its ClientHello, not typed in."""
    hellos = tlsmatrix.api.client_hellos(["openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "java"])
    assert set(hellos) == {"openssl", "go", "rustls-ring", "rustls-aws-lc-rs", "java"}
    # rustls' default features (prefer-post-quantum) put the hybrid first and key-share it
    assert hellos["rustls-aws-lc-rs"]["groups"][0] == "X25519MLKEM768"
    assert "X25519MLKEM768" in hellos["rustls-aws-lc-rs"]["key_shares"]
    assert "ML-DSA-65" in hellos["rustls-aws-lc-rs"]["key_types"]
    for name in ("openssl", "go", "rustls-ring", "java"):  # OpenSSL 3.0, Go 1.19, ring, Java 17: no ML-KEM
        assert not any("MLKEM" in g for g in hellos[name]["groups"]), hellos[name]
    assert "P-521" not in hellos["rustls-ring"]["key_types"]  # ring verifies no P-521 signature


@pytest.mark.parametrize("server", ["openssl", "go", "rustls-aws-lc-rs"])
def test_nss_offers_the_groups_it_is_given(cells, server):
    c = cells[(server, (), ("secp256r1", "x25519"), "1.3", "nss")]
    assert c.outcome == "ok" and c.negotiated["group"] == "secp256r1" and c.negotiated["hrr"] is None
    # NSS 3.87 has no X25519MLKEM768 and skips it without a word: what it negotiated says so
    hybrid = cells[(server, (), ("X25519MLKEM768",), "1.3", "nss")]
    assert hybrid.outcome == "handshake_failure" and "NO_CIPHERS_SUPPORTED" in hybrid.error


@pytest.mark.parametrize("server", ["openssl", "go", "rustls-aws-lc-rs"])
def test_gnutls_offers_the_groups_it_is_given(cells, server):
    """GnuTLS key-shares both groups; the Go server picks x25519 by its own preference, the others
    the client's first."""
    c = cells[(server, (), ("secp256r1", "x25519"), "1.3", "gnutls")]
    assert c.outcome == "ok" and c.negotiated["group"] == ("x25519" if server == "go" else "secp256r1"), c


CLI_SERVERS = """
name = "kx-cli-servers"
[axes]
servers = ["gnutls", "nss"]
tls = ["1.3", "1.2"]
clients = ["openssl", "go", "rustls-aws-lc-rs"]
server_groups = ["default", "secp384r1", "X25519MLKEM768"]
[[chain]]
root = "P-256"
leaf = "P-256"
"""


@pytest.fixture(scope="module")
def cli_server_cells(tmp_path_factory, pki_cache):
    return {(c.server, tuple(c.server_groups or ()), c.tls, c.client): c
            for c in run_text(tmp_path_factory.mktemp("kx-cli"), CLI_SERVERS, pki_cache)}


@pytest.mark.parametrize("server", ["gnutls", "nss"])
@pytest.mark.parametrize("client", ["openssl", "go", "rustls-aws-lc-rs"])
def test_gnutls_serv_and_selfserv_accept_only_the_groups_they_are_given(cli_server_cells, server, client):
    c = cli_server_cells[(server, ("secp384r1",), "1.3", client)]
    assert c.outcome == "ok" and c.negotiated["group"] == "secp384r1", c
    assert c.negotiated["hrr"] is True  # none of these clients key-shares secp384r1 first
    assert cli_server_cells[(server, (), "1.3", client)].negotiated["group"] != "secp384r1"
    tls12 = cli_server_cells[(server, ("secp384r1",), "1.2", client)]
    if server == "gnutls":
        assert tls12.outcome == "ok" and tls12.negotiated["group"] == "secp384r1", tls12
    else:  # NSS: in TLS 1.2 an ECDSA certificate's curve must be one of the server's groups (P-256 is not)
        assert tls12.outcome == "handshake_failure", tls12


@pytest.mark.parametrize("server, words", [("gnutls", "Syntax error at: +GROUP-X25519-MLKEM768"),
                                           ("nss", "selfserv -I has no X25519MLKEM768")])
def test_a_cli_server_without_the_hybrid_is_skipped_in_its_own_words(cli_server_cells, server, words):
    """GnuTLS 3.7.9 and NSS 3.87 (the host's) have no X25519MLKEM768."""
    c = cli_server_cells[(server, ("X25519MLKEM768",), "1.3", "go")]
    assert c.outcome == "skipped" and f"server {server}: unsupported group: " in c.error and words in c.error, c.error


def test_the_key_shares_a_setting_marks_are_the_ones_in_the_client_hello():
    """Read off the ClientHello each probe sends: wolfSSL key-shares exactly the marked groups, NSS its
    first ones (it can be told a prefix of the list only)."""
    told = tlsmatrix.api.client_hellos(["nss", "wolfssl"], groups="*secp256r1:*x25519:secp384r1")
    for client in ("nss", "wolfssl"):
        assert told[client]["groups"] == ["secp256r1", "x25519", "secp384r1"], told[client]
        assert told[client]["key_shares"] == ["secp256r1", "x25519"], told[client]
    last = tlsmatrix.api.client_hellos(["wolfssl", "nss"], groups="secp256r1:x25519:*secp384r1")
    assert last["wolfssl"]["key_shares"] == ["secp384r1"] and "nss" not in last  # NSS refused: no hello


def test_a_column_that_cannot_send_the_marked_key_shares_is_skipped(tmp_path, pki_cache):
    text = ('name = "ks"\n[axes]\ntls = ["1.3"]\nservers = ["go"]\nclients = ["openssl", "nss", "go", '
            '"wolfssl"]\nclient_groups = ["x25519:*secp384r1"]\n[[chain]]\nroot = "P-256"\nleaf = "P-256"\n')
    cells = {c.client: c for c in run_text(tmp_path, text, pki_cache)}
    assert cells["wolfssl"].outcome == "ok" and cells["wolfssl"].negotiated["group"] == "secp384r1"
    assert cells["openssl"].outcome == "skipped", cells["openssl"]  # OpenSSL 3.0 knows no '*'
    assert cells["openssl"].error.startswith("unsupported group:") and "'X25519:*P-384'" in cells["openssl"].error
    assert cells["nss"].outcome == "skipped" and "first groups only" in cells["nss"].error
    assert cells["go"].outcome == "skipped" and "cannot choose the groups it sends key shares for" in cells["go"].error
