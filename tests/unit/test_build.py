"""`tlsmatrix build`'s own logic (harness/stacks/build.py) on small stand-in targets: stamps, rebuilds,
the two lanes, errors. The real probes' builds run in every integration test that uses them."""
from __future__ import annotations

import shutil

import pytest

from tlsmatrix.stacks import build as build_mod
from tlsmatrix.stacks.build import BuildError, Target, build, cargo_build_line, find_cargo


def _target(tmp_path, name, script, toolchain=lambda: shutil.which("sh")):
    sources = tmp_path / "src" / name
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "main.txt").write_text("v1")

    def commands(tool, out):
        return [(["sh", "-c", script.format(out=out, name=name)], {})]
    return Target(name, sources, (f"{name}/done",), toolchain, "install sh", commands)


@pytest.fixture
def targets(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSMATRIX_BUILD_DIR", str(tmp_path / "build"))
    table = {}
    monkeypatch.setattr(build_mod, "TARGETS", table)
    return table


def test_a_second_build_with_nothing_changed_runs_nothing(tmp_path, targets):
    make = "mkdir -p {out}/{name} && echo x >> {out}/{name}/done"
    targets["a"] = _target(tmp_path, "a", make)
    assert build(log=lambda m: None) == {"a": "built"}
    assert build(log=lambda m: None) == {"a": "cached"}
    assert (tmp_path / "build" / "a" / "done").read_text() == "x\n"  # ran once

    (targets["a"].sources / "main.txt").write_text("v2")  # a source changed
    assert build(log=lambda m: None) == {"a": "built"}
    targets["a"] = _target(tmp_path, "a", make + " && true")  # the build command changed
    assert build(log=lambda m: None) == {"a": "built"}
    (tmp_path / "build" / "a" / "done").unlink()  # an output went missing
    assert build(log=lambda m: None) == {"a": "built"}


def test_cargo_targets_and_the_others_build_at_once_each_lane_in_order(tmp_path, targets):
    if find_cargo() is None:
        pytest.skip("cargo is not installed")
    order = tmp_path / "order"
    make = "mkdir -p {out}/{name} && touch {out}/{name}/done && echo {name} >> %s" % order
    # r1 (the cargo lane) waits for c1 (the other lane): built one after another, it would fail
    wait_for_c1 = "i=0; until [ -e {out}/c1/done ]; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done; "
    targets["r1"] = _target(tmp_path, "r1", wait_for_c1 + make, find_cargo)
    targets["c1"] = _target(tmp_path, "c1", make)
    targets["r2"] = _target(tmp_path, "r2", make, find_cargo)
    targets["c2"] = _target(tmp_path, "c2", make)
    assert build(log=lambda m: None) == dict.fromkeys(["r1", "c1", "r2", "c2"], "built")
    built = order.read_text().split()
    assert built.index("r1") < built.index("r2") and built.index("c1") < built.index("c2")


def test_a_failed_build_names_the_target_and_shows_the_output(tmp_path, targets):
    targets["bad"] = _target(tmp_path, "bad", "echo 'error: no such crate' >&2; exit 3")
    with pytest.raises(BuildError, match=r"building bad failed: .* exited 3\nerror: no such crate"):
        build(log=lambda m: None)
    with pytest.raises(BuildError, match="unknown build target 'nope'"):
        build(["nope"], log=lambda m: None)


def test_a_missing_toolchain_skips_with_the_install_hint(tmp_path, targets):
    targets["t"] = _target(tmp_path, "t", "true", toolchain=lambda: None)
    assert build(log=lambda m: None) == {"t": "skipped: toolchain not found; install sh"}


def test_rust_probes_share_one_target_dir_and_are_copied_out():
    line = cargo_build_line("rustls-ring")
    assert line.startswith("(cd harness/probes/rustls && cargo build --release --locked ")
    assert "--target-dir ../../../build/cargo-target" in line
    assert "-t ../../../build/rustls-ring ../../../build/cargo-target/release/tlsmatrix-rustls-probe" in line
    kube = cargo_build_line("kube-latest-rustls")
    assert "--target-dir ../../../../build/cargo-target" in kube and "profile.release.opt-level=0" in kube
    assert "opt-level" not in line  # the batch probes stay optimized


def test_go_probes_are_built_with_the_toolchains_own_defaults(tmp_path):
    """Go applies the GODEBUG defaults of the main module's go line: the build's go.mod says the
    toolchain's version (a stand-in `go` answers GOVERSION; the real build: the go probe's hello)."""
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho go1.24.4\n")
    fake_go.chmod(0o755)
    commands = build_mod.TARGETS["go"].commands(str(fake_go), tmp_path / "out")
    modfile = tmp_path / "out" / "go" / "toolchain.mod"
    assert modfile.read_text() == "module tlsmatrix/probes/go\n\ngo 1.24\n"
    assert all(f"-modfile={modfile}" in argv for argv, _ in commands) and len(commands) == 2
