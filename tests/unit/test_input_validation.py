"""Issue 14, items 1 and 2: every bad input is exit 2 with one line naming it, before any work."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pytest

from tlsmatrix import cli, validate
from tlsmatrix.stacks.clients import CLIENTS
from tlsmatrix.model.errors import UsageError
from tlsmatrix.report.regress import BaselineError, baseline_path
from tlsmatrix.running.scenarios import ScenarioError, load_scenario, name_problem
from tlsmatrix.stacks.servers import SERVERS

BASE = """
[axes]
tls = ["1.2", "1.3"]
servers = ["openssl", "go"]
clients = ["openssl", "go"]
[[chain]]
root = ["P-256", "P-521"]
leaf = "P-256"
"""


def scenario(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- scenario names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escaped", "/etc/passwd", "a/b", "a\\\\b", "a\\u0000b", "..", ".hidden",
                                  "a..b", "-x", "", "x" * 101, "with space"])
def test_scenario_names_must_be_identifiers(tmp_path, name):
    path = scenario(tmp_path, f'name = "{name}"\n' + BASE)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, CLIENTS, SERVERS)
    assert f"{path}: name: " in str(info.value)


@pytest.mark.parametrize("name", ["rustls-p521", "kube-rs-1562", "a_b.c", "X1"])
def test_identifier_names_are_fine(name):
    assert name_problem(name) is None


def test_a_file_name_that_is_no_identifier_says_to_set_name(tmp_path):
    path = scenario(tmp_path, BASE, "my scenario.toml")
    with pytest.raises(ScenarioError, match=r"my scenario.toml: name: .*'my scenario'.*set name"):
        load_scenario(path)


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "a/b", "a\x00b", ".."])
def test_baseline_path_refuses_names_from_a_crafted_results_file(tmp_path, name):
    with pytest.raises(BaselineError, match="refusing to write a baseline"):
        baseline_path(tmp_path / "baseline", name)


def test_baseline_path_stays_in_the_directory(tmp_path):
    assert baseline_path(tmp_path, "rustls-p521") == tmp_path / "rustls-p521.json"


# --- silent no-ops ------------------------------------------------------------------------------


def test_an_expect_rule_that_matches_no_cell_is_an_error(tmp_path):
    path = scenario(tmp_path, 'name = "x"\n' + BASE + '[[expect]]\nclient = "opnessl*"\noutcome = "ok"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, CLIENTS, SERVERS)
    message = str(info.value)
    for needle in (str(path), "expect[0]", "client = 'opnessl*'", "openssl, go", "--allow-unmatched-expect"):
        assert needle in message


def test_with_the_flag_an_unmatched_rule_is_a_warning(tmp_path):
    path = scenario(tmp_path, 'name = "x"\n' + BASE + '[[expect]]\nleaf = "Ed25519"\noutcome = "ok"\n')
    s = load_scenario(path, CLIENTS, SERVERS, allow_unmatched_expect=True)
    assert len(s.warnings) == 1 and "expect[0]" in s.warnings[0] and "leaf = 'Ed25519'" in s.warnings[0]


@pytest.mark.parametrize("rule,needle", [
    ('server = "gnutls"', "server = 'gnutls' matches no server"),
    ('tls = "1.2"\nclient = "openssl"\nserver = "nss"', "server = 'nss'"),
    ('root = "P-384"', "root = 'P-384' matches no chain (values: P-256, P-521)"),
    ('root = "P-521"\nsigner = "P-256"', "no chain has root = 'P-521', signer = 'P-256' together"),
    ('client_cert = "P-256"', "client_cert = 'P-256' matches no chain"),
])
def test_unmatched_rules_name_what_matched_nothing(tmp_path, rule, needle):
    path = scenario(tmp_path, 'name = "x"\n' + BASE + f'[[expect]]\n{rule}\noutcome = "ok"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, CLIENTS, SERVERS)
    assert needle in str(info.value)


def test_rules_are_judged_against_the_full_expansion_not_the_selection(tmp_path):
    """A rule for go is fine even when the run selects only openssl."""
    path = scenario(tmp_path, 'name = "x"\n' + BASE + '[[expect]]\nclient = "go"\nroot = "P-521"\noutcome = "ok"\n')
    s = load_scenario(path, CLIENTS, SERVERS)
    assert s.warnings == () and s.cells(clients=["openssl"])


@pytest.mark.parametrize("key", ["root", "leaf", "client_cert", "defect"])
def test_an_empty_axis_list_names_file_and_key(tmp_path, key):
    """`root = []` used to remove the chain silently ("the selection leaves no cells")."""
    chain = {"root": '"P-256"', "leaf": '"P-256"', key: "[]"}
    path = scenario(tmp_path, 'name = "x"\n[[chain]]\n' + "".join(f"{k} = {v}\n" for k, v in chain.items()))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, CLIENTS, SERVERS)
    assert f"{path}: chain[0].{key}: must not be an empty list, got []" in str(info.value)


@pytest.mark.parametrize("value", ['""', '" "', '"a b"', '"x/y"'])
def test_servername_must_be_a_name(tmp_path, value):
    path = scenario(tmp_path, f'name = "x"\nservername = {value}\n' + BASE)
    with pytest.raises(ScenarioError, match=rf"{path.name}: servername: must be a non-empty host name"):
        load_scenario(path, CLIENTS, SERVERS)


def test_app_of_the_wrong_type_is_a_scenario_error(tmp_path):
    path = scenario(tmp_path, 'name = "x"\napp = ["kubernetes"]\n' + BASE)
    with pytest.raises(ScenarioError, match="app: unknown app"):
        load_scenario(path)


def test_cell_count_without_expanding():
    s = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "curves.toml", CLIENTS, SERVERS)
    assert s.cell_count() == len(s.cells())
    assert s.cell_count(clients=["openssl"], tls_versions=["1.3"]) == len(s.cells(clients=["openssl"],
                                                                                  tls_versions=["1.3"]))


def test_max_cells_is_checked_before_expansion(tmp_path):
    keys = '["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521", "Ed25519"]'
    path = scenario(tmp_path, f'name = "huge"\n[[chain]]\nroot = {keys}\nleaf = {keys}\nclient_cert = {keys}\n'
                               f'defect = ["none", "aki-mismatch", "wrong-ca", "issuer-name-case"]\n')
    s = load_scenario(path, CLIENTS, SERVERS)
    with pytest.raises(UsageError, match=r"21,952 cells to run \(huge: 21,952\) exceed --max-cells 20,000"):
        validate.check_cell_count([s], None, None, None, None, validate.DEFAULT_MAX_CELLS)
    validate.check_cell_count([s], None, None, None, "2/2", validate.DEFAULT_MAX_CELLS)  # a shard runs half of them
    validate.check_cell_count([s], ["openssl"], None, None, None, validate.DEFAULT_MAX_CELLS)  # so does a narrower run


# --- command-line values ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "0", "1e9", "ten"])
def test_timeouts_must_be_finite_and_in_range(text):
    with pytest.raises(argparse.ArgumentTypeError):
        validate.seconds(0.001, 3600)(text)


def test_good_values_pass():
    assert validate.seconds(0.001, 3600)("2.5") == 2.5
    assert validate.count(1, 10)("10") == 10
    assert validate.name_list(" a, b ,") == ["a", "b"]
    assert validate.shard("2/4") == "2/4"


@pytest.mark.parametrize("text", [",", "", " , ,"])
def test_an_empty_list_is_an_error_not_everything(text):
    with pytest.raises(argparse.ArgumentTypeError, match="names nothing"):
        validate.name_list(text)


@pytest.mark.parametrize("argv", [
    ["matrix", "--timeout", "nan"], ["matrix", "--timeout", "inf"], ["matrix", "--timeout", "-1"],
    ["matrix", "--timeout", "0"], ["matrix", "--max-cells", "0"], ["matrix", "--max-cells", "many"],
    ["matrix", "--clients", ","], ["matrix", "--tls", ","], ["matrix", "--shard", "5/4"],
    ["probe", "h:1", "--ca", "x", "--timeout", "nan"], ["probe", "h:1", "--ca", "x", "--clients", ","],
    ["serve", "x.toml", "--duration", "inf"], ["serve", "x.toml", "--duration", "0"], ["serve", "x.toml", "--chain", ","],
    ["regress", "--timeout", "-1"], ["diagnose", "--ca", "x", "--timeout", "nan"],
])
def test_bad_numbers_and_lists_exit_2_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error: argument" in err and "Traceback" not in err


# --- paths ----------------------------------------------------------------------------------------


def test_writable_dir_refuses_a_file_and_a_path_under_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(validate.InputError, match=rf"--output {f}: exists and is not a directory"):
        validate.writable_dir(f, "--output")
    with pytest.raises(validate.InputError, match="is not a directory, so"):
        validate.writable_dir(f / "sub", "--pki-cache")


def test_writable_dir_refuses_an_unwritable_place_and_creates_nothing(tmp_path):
    with pytest.raises(validate.InputError, match=r"--output /proc/tlsmatrix-x/out: cannot write there"):
        validate.writable_dir("/proc/tlsmatrix-x/out", "--output")
    target = tmp_path / "new" / "deeper"
    assert validate.writable_dir(target, "--output") == target
    assert list(tmp_path.iterdir()) == []  # checked for real, nothing left


def test_results_go_to_a_fallback_file_when_the_output_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(cli.tempfile, "tempdir", None)
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    cli._SAVED.clear()
    with pytest.raises(cli.HarnessError, match=rf"cannot write {blocker}/results.json"):
        cli._save_results(blocker, '{"results": []}\n')
    saved = cli._SAVED[-1]
    assert saved.parent == tmp_path and json.loads(saved.read_text()) == {"results": []}
    assert cli._fail("x") == 2  # and the error line says where
    cli._SAVED.clear()


# --- exceptions: one line, exit 2, traceback only with --debug --------------------------------------


def test_an_unexpected_exception_is_one_line_and_exit_3(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "cmd_schema", broken)
    assert cli.main(["schema"]) == 3  # a bug in tlsmatrix: not 2, which says the input or setup is at fault
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "tlsmatrix: error: unexpected RuntimeError in `tlsmatrix schema`: boom (a bug in tlsmatrix: rerun with "
        "--debug for the traceback and report it)"]
    assert cli.main(["schema", "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("report it)")


def test_an_os_error_names_the_file(monkeypatch, capsys):
    def broken(args):
        open("/nonexistent-dir/x")

    monkeypatch.setattr(cli, "cmd_schema", broken)
    assert cli.main(["schema"]) == 2
    assert capsys.readouterr().err.strip() == ("tlsmatrix: error: `tlsmatrix schema`: No such file or directory: "
                                               "/nonexistent-dir/x")


# --- probe key files -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for n in (1, 2):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", d / f"k{n}.pem", "-out", d / f"c{n}.pem", "-subj", f"/CN=t{n}", "-days", "1"],
                       check=True, capture_output=True)
    (d / "ca-with-key.pem").write_bytes((d / "c1.pem").read_bytes() + (d / "k1.pem").read_bytes())
    return d


def test_client_key_must_be_a_key_for_the_certificate(keys):
    validate.client_key_pair(keys / "c1.pem", keys / "k1.pem")
    with pytest.raises(validate.InputError, match=rf"--client-key {keys}/c2.pem: not a PEM private key"):
        validate.client_key_pair(keys / "c1.pem", keys / "c2.pem")
    with pytest.raises(validate.InputError, match=rf"--client-key {keys}/k2.pem: does not belong to the certificate"):
        validate.client_key_pair(keys / "c1.pem", keys / "k2.pem")


def test_a_ca_file_with_a_private_key_is_refused(keys):
    validate.ca_file_without_key(keys / "c1.pem")
    with pytest.raises(validate.InputError, match=rf"--ca {keys}/ca-with-key.pem: holds a private key"):
        validate.ca_file_without_key(keys / "ca-with-key.pem")


def test_stack_names_take_globs_and_groups_and_each_must_name_a_stack():
    from tlsmatrix.model.errors import UsageError
    from tlsmatrix.stacks.clients import CLIENTS, VERSIONED_CLIENTS
    from tlsmatrix.stacks.servers import HOST_SERVERS, SERVERS
    from tlsmatrix.validate import check_names

    assert check_names("rustls-ring*,openssl", CLIENTS, "client stack") == \
        ["rustls-ring", "rustls-ring@0.23.12", "rustls-ring@0.21.12", "rustls-ring@0.21.0", "openssl"]
    assert check_names("@versioned", CLIENTS, "client stack") == list(VERSIONED_CLIENTS)
    assert check_names("@host", SERVERS, "server stack") == HOST_SERVERS
    kube = check_names("@kube", CLIENTS, "client stack")
    assert kube and all(n.startswith("kube") for n in kube)
    assert set(check_names("@tls,@kube", CLIENTS, "client stack")) == set(CLIENTS)
    for bad in ("schannel", "schan*", "@cloud"):
        with pytest.raises(UsageError, match=f"unknown client stack '{re.escape(bad)}'"):
            check_names(bad, CLIENTS, "client stack")


def test_ca_system_is_the_operating_systems_store_and_a_file_stays_a_file(tmp_path, monkeypatch):
    store = validate.ca_file("system")
    assert Path(store).is_file() and b"BEGIN CERTIFICATE" in Path(store).read_bytes()
    assert validate.ca_file("ca.pem") == "ca.pem"
    monkeypatch.setattr(validate, "SYSTEM_CA_FILES", ())
    monkeypatch.setattr("ssl.get_default_verify_paths", lambda: type("P", (), {"cafile": None})())
    with pytest.raises(argparse.ArgumentTypeError, match="no system trust store file found"):
        validate.ca_file("system")
