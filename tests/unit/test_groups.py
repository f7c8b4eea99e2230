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
