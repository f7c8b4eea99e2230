"""The key-exchange group axis: names, settings, scenarios, cells, jobs and listeners."""
from __future__ import annotations

import pytest

from tlsmatrix.model import groups
from tlsmatrix.model.groups import GroupError, canonical, parse_groups
from tlsmatrix.running.scenarios import ScenarioError, parse_scenario
from tlsmatrix.stacks.classify import classify
from tlsmatrix.model.core import HandshakeResult, Outcome


def test_settings_parse_to_canonical_names_in_order():
    assert parse_groups("X25519MLKEM768:P-256") == ("X25519MLKEM768", "secp256r1")
    assert parse_groups("x25519, prime256v1") == ("x25519", "secp256r1")
    assert parse_groups(["mlkem768x25519", "X25519"]) == ("X25519MLKEM768", "x25519")
    assert parse_groups("default") is None


@pytest.mark.parametrize("bad", ["", "x25519:bogus", "x25519:X25519", 7, ":"])
def test_bad_settings_name_the_value(bad):
    with pytest.raises(GroupError, match="group"):
        parse_groups(bad)


def test_every_group_has_its_registry_code_point():
    assert groups.GROUPS["X25519MLKEM768"] == 0x11EC and groups.GROUPS["secp256r1"] == 23
    assert groups.group_fields(("X25519MLKEM768", "x25519")) == {"groups": ["X25519MLKEM768", "x25519"],
                                                                 "group_codes": [0x11EC, 29]}
    assert groups.group_fields(None) == {}


@pytest.mark.parametrize("said, name", [("X25519", "x25519"), ("mlkem768x25519", "X25519MLKEM768"),
                                        ("0x11ec", "X25519MLKEM768"), ("CurveP256", "secp256r1"),
                                        ("prime256v1", "secp256r1"), ("0x7777", "0x7777"), ("brainpool", "brainpool"),
                                        (None, None)])
def test_a_stack_s_name_for_a_group_is_written_the_registry_s_way(said, name):
    assert canonical(said) == name


def _scenario(axes: dict, expect: list | None = None):
    data = {"name": "kx", "axes": {"servers": ["openssl", "go"], "clients": ["openssl", "go"], "tls": ["1.3"], **axes},
            "chain": [{"root": "P-256", "leaf": "P-256"}], "expect": expect or []}
    return parse_scenario(data)


def test_the_group_axes_multiply_the_rows_and_reach_cells():
    s = _scenario({"server_groups": ["default", "X25519MLKEM768"], "client_groups": ["default", "x25519:P-256"]})
    cells = s.cells()
    assert len(cells) == s.cell_count() == 2 * 4 * 2
    rows = {c.row_key for c in cells}
    assert len(rows) == 2 * 4
    assert ("kx", "P-256 → P-256", "1.3", "go [accepts X25519MLKEM768; offers x25519:secp256r1]") in rows
    assert len({c.id for c in cells}) == len(cells)


def test_expectations_match_group_settings_by_label():
    s = _scenario({"server_groups": ["default", "X25519MLKEM768"]},
                  [{"server_groups": "X25519MLKEM768", "outcome": "handshake_failure"},
                   {"server_groups": "default", "outcome": "ok"}])
    by_setting = {c.server_groups: c.expect.outcomes for c in s.cells()}
    assert by_setting == {("X25519MLKEM768",): frozenset({Outcome.HANDSHAKE_FAILURE}), None: frozenset({Outcome.OK})}


@pytest.mark.parametrize("axes, expect, where", [
    ({"server_groups": ["x25519", "bogus"]}, [], "axes.server_groups[1]"),
    ({"client_groups": ["x25519", "X25519"]}, [], "axes.client_groups"),
    ({}, [{"server_groups": "X25519MLKEM768", "outcome": "ok"}], "expect[0]"),
    ({}, [{"client_groups": "nope", "outcome": "ok"}], "expect[0].client_groups"),
])
def test_bad_group_settings_name_the_key(axes, expect, where):
    with pytest.raises(ScenarioError, match=rf"{where.replace('[', '.').replace(']', '.')}"):
        _scenario(axes, expect)


def test_a_stack_that_lacks_a_group_is_skipped_in_its_own_words():
    raw = HandshakeResult(ok=False, error="unsupported group: Go go1.19.8 has no key-exchange group 0x11ec (CurveID(4588))")
    assert classify("go", raw).outcome is Outcome.SKIPPED


def test_reports_say_unknown_where_a_probe_cannot_tell_the_group_or_a_retry():
    from tlsmatrix.report.text import negotiated
    assert negotiated({"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "group": None, "sigalg": None,
                       "hrr": None}) == "version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 group=unknown hrr=unknown"
    assert negotiated({"version": "TLSv1.3", "group": "X25519MLKEM768", "hrr": False}).endswith(
        "group=X25519MLKEM768 hrr=no")
    assert negotiated({"group": "secp384r1", "hrr": True}) == "group=secp384r1 hrr=yes"
    assert negotiated(None) == "" and negotiated({}) == ""


@pytest.mark.parametrize("spelling, name", [("X25519-MLKEM768", "X25519MLKEM768"), ("SECP256R1", "secp256r1"),
                                            ("mlkem768x25519", "X25519MLKEM768"), ("0x11ec", "X25519MLKEM768")])
def test_each_stack_s_spelling_of_a_negotiated_group_reads_as_the_registry_s(spelling, name):
    assert canonical(spelling) == name


def test_the_cli_tools_spell_every_group_they_are_given_or_refuse_it_in_words():
    from tlsmatrix.probes.jsonlines import gnutls_priority, nss_group_option, nss_tool_groups
    usage = ("-I                   Comma separated list of enabled groups for TLS key exchange.\n"
             "                     The following values are valid:\n"
             "                     P256, P384, P521, x25519, FF2048\n"
             "-J                   Comma separated list of signature schemes.\n")
    known = nss_tool_groups(usage)
    assert known == ["P256", "P384", "P521", "x25519", "FF2048"]
    assert nss_group_option(["secp384r1", "x25519"], known, "tstclnt") == ["-I", "P384,x25519"]
    with pytest.raises(ValueError, match="unsupported group: tstclnt -I has no X25519MLKEM768"):
        nss_group_option(["X25519MLKEM768"], known, "tstclnt")
    assert gnutls_priority("NORMAL", ["X25519MLKEM768", "x25519"]) == \
        "NORMAL:-GROUP-ALL:+GROUP-X25519-MLKEM768:+GROUP-X25519"
    with pytest.raises(ValueError, match="unsupported group: GnuTLS has no name for MLKEM768"):
        gnutls_priority("NORMAL", ["MLKEM768"])


def test_a_retry_is_two_server_hellos_in_a_tools_trace():
    from tlsmatrix.probes.jsonlines import curl_trace_hrr, hrr_from_server_hellos
    hello = "TLSv1.3 (IN), TLS handshake, Server hello (2):"
    assert curl_trace_hrr([hello, "TLSv1.3 (OUT), TLS handshake, Client hello (1):", hello], "TLSv1.3") is True
    assert curl_trace_hrr([hello], "TLSv1.3") is False
    assert curl_trace_hrr(["SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256"], "TLSv1.3") is None
    assert hrr_from_server_hellos(1, "TLSv1.2") is False and hrr_from_server_hellos(0, "TLSv1.3") is None


def test_a_client_setting_marks_its_key_shares_as_openssl_does():
    setting = parse_groups("*X25519MLKEM768:x25519:*secp256r1", key_shares=True)
    assert setting == ("*X25519MLKEM768", "x25519", "*secp256r1")
    assert groups.label(setting) == "*X25519MLKEM768:x25519:*secp256r1"
    assert groups.group_fields(setting) == {
        "groups": ["X25519MLKEM768", "x25519", "secp256r1"], "group_codes": [0x11EC, 29, 23],
        "key_shares": ["X25519MLKEM768", "secp256r1"], "key_share_codes": [0x11EC, 23]}
    assert "key_shares" not in groups.group_fields(parse_groups("X25519MLKEM768:x25519", key_shares=True))
    with pytest.raises(GroupError, match="only a client sends key shares"):
        parse_groups("*x25519")  # a server's setting
    with pytest.raises(GroupError, match="named twice"):
        parse_groups("*x25519:x25519", key_shares=True)
    from tlsmatrix.probes.pyssl.kx import openssl_list
    assert openssl_list(["X25519MLKEM768", "secp256r1"], ["X25519MLKEM768"]) == "*X25519MLKEM768:P-256"


def test_a_scenario_marks_key_shares_for_clients_only():
    scenario = _scenario({"client_groups": ["*x25519:secp256r1"]},
                         [{"client_groups": "*x25519:secp256r1", "outcome": "ok"}])
    assert {c.client_groups for c in scenario.cells()} == {("*x25519", "secp256r1")}
    with pytest.raises(ScenarioError, match="axes.server_groups.*only a client sends key shares"):
        _scenario({"server_groups": ["*x25519"]})
