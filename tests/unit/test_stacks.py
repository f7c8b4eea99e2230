"""Every stack descriptor (harness/stacks/__init__.py) is complete and consistent, and the tables derived
from the descriptors (build targets, images, apps, bundle tables, Debian packages) agree with them.

A new stack is picked up here automatically: it is checked like every other one.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tlsmatrix.report import bundle
from tlsmatrix.stacks import images
from tlsmatrix.model.core import APPS
from tlsmatrix.running import scenarios
from tlsmatrix.stacks.build import TARGETS
from tlsmatrix.stacks.classify import TABLES
from tlsmatrix.stacks.clients import CLIENTS, TLS_CLIENTS
from tlsmatrix.stacks.native import NativeCell
from tlsmatrix.stacks.servers import SERVERS, VERSIONED_SERVERS
from tlsmatrix.stacks import ImageSpec, Native, Reproduce, Stack, debian_packages, registry, served_apps
from tlsmatrix.stacks.toolchain import Debian, PythonPackage

ROOT = Path(__file__).resolve().parents[2]
STACKS = [*CLIENTS.values(), *SERVERS.values()]
IDS = [f"{s.role}:{s.name}" for s in STACKS]


@pytest.mark.parametrize("stack", STACKS, ids=IDS)
def test_every_descriptor_is_complete(stack: Stack):
    registry_of_role = CLIENTS if stack.role == "client" else SERVERS
    assert registry_of_role.get(stack.name) is stack
    assert stack.description and stack.family in TABLES, "its family needs a table in harness/stacks/classify.py"
    argv = stack.argv()
    assert argv and all(isinstance(a, str) for a in argv)
    assert stack.unavailable_reason() is None or isinstance(stack.unavailable_reason(), str)
    for requirement in stack.requires:
        assert isinstance(requirement, (Debian, PythonPackage))
        assert requirement.missing() is None or requirement.missing()  # a reason, never an empty text


@pytest.mark.parametrize("stack", STACKS, ids=IDS)
def test_program_and_build_target_exist(stack: Stack):
    if stack.module is not None:
        assert importlib.util.find_spec(stack.module) is not None, stack.module
    if stack.build is not None:
        assert stack.build in TARGETS, f"no build target {stack.build!r} in harness/stacks/build.py"
        assert 0 <= stack.output < len(TARGETS[stack.build].outputs)


def test_every_build_target_builds_a_stack():
    used = {s.build for s in STACKS} | {"router"}  # the router: the docker backend's relay, no stack
    assert set(TARGETS) <= used, f"targets no stack runs: {set(TARGETS) - used}"


@pytest.mark.parametrize("stack", STACKS, ids=IDS)
def test_bundle_reproduction_points_at_real_files(stack: Stack):
    if stack.reproduce is None:
        return
    assert (ROOT / stack.reproduce.source).exists(), stack.reproduce.source
    source, build, command = stack.reproduction()
    if stack.role == "client":
        assert build, "the bundle's Probe programs table says how to build it"
        assert bundle.PROBES[stack.name] == (source, build, command)
    else:
        assert bundle.SERVER_PROGRAMS[stack.name] == (source, command)
    if command.startswith("python3 -m "):
        assert importlib.util.find_spec(shlex.split(command)[2]) is not None


@pytest.mark.parametrize("stack", STACKS, ids=IDS)
def test_native_lines_are_clients_and_render(stack: Stack):
    if stack.native is None:
        return
    assert stack.role == "client"
    for tls in ("1.2", "1.3", None):
        for mtls in (None, ("client.pem", "key.pem")):
            line = stack.native.line(NativeCell("localhost", tls, "127.0.0.1", 8443, mtls))
            assert "127.0.0.1" in line and "8443" in line


@pytest.mark.parametrize("stack", STACKS, ids=IDS)
def test_images_apps_and_roles(stack: Stack):
    if stack.role == "client":
        assert stack.image is None and not stack.apps
        if stack.needs_app:
            assert scenarios.APP_SERVERS.get(stack.needs_app), f"no server stack speaks {stack.needs_app!r}"
        return
    assert stack.needs_app is None and stack.native is None
    if stack.image is not None:
        # a versioned server (openssl@1.1.1) runs in its release's client image
        own = stack.image.stack == stack.name or stack.name in VERSIONED_SERVERS
        assert own and images.IMAGES[stack.name] is stack.image
        assert (ROOT / stack.image.dockerfile).is_file()
        assert all((ROOT / src).exists() for src in stack.image.sources), stack.image.sources


def test_derived_tables_follow_the_registries():
    assert list(images.IMAGES) == [n for n, s in SERVERS.items() if s.image]
    assert scenarios.APP_SERVERS == served_apps(SERVERS) == {"kubernetes": ("go",)}
    assert set(scenarios.APP_SERVERS) <= set(APPS)  # the results document's enum knows every app a server speaks
    assert TLS_CLIENTS == [n for n, s in CLIENTS.items() if s.needs_app is None]
    assert list(bundle.PROBES) == [n for n, s in CLIENTS.items() if s.reproduce]


def test_a_new_stack_flows_into_every_derived_table():
    """What docs/adding-a-stack.md promises: the descriptor is all the registries need."""
    new_client = Stack("mbedtls", "openssl", "a stand-in", module="tlsmatrix.probes.pyssl.client",
                       requires=(Debian("libmbedtls-dev", ("mbedtls-probe-tool",)),),
                       reproduce=Reproduce("harness/probes/pyssl/client.py", "(nothing to build)"),
                       native=Native("a stand-in", lambda cell: f"tool {cell.host}:{cell.port}"))
    new_server = Stack("mbedtls", "openssl", "a stand-in", role="server", module="tlsmatrix.probes.pyssl.server",
                       apps=("kubernetes", "smtp"), image=ImageSpec("mbedtls", "x/Dockerfile", ("x",)))
    clients = registry(*CLIENTS.values(), new_client)
    servers = registry(*SERVERS.values(), new_server)
    assert new_client.reproduction() == ("harness/probes/pyssl/client.py", "(nothing to build)",
                                         "python3 -m tlsmatrix.probes.pyssl.client")
    assert new_client.unavailable_reason() == ("mbedtls-probe-tool not found: install with "
                                               "`apt-get install libmbedtls-dev` (Debian)")
    assert "libmbedtls-dev" in debian_packages([*clients.values()], missing_only=True)
    assert served_apps(servers) == {"kubernetes": ("go", "mbedtls"), "smtp": ("mbedtls",)}
    with pytest.raises(ValueError, match="described twice"):
        registry(*CLIENTS.values(), CLIENTS["openssl"])


def test_every_python_package_a_stack_imports_is_a_dependency():
    """An optional stack's Python package is an extra of pyproject.toml (`make setup` installs them all);
    its install hint names that extra, and the extra holds the package."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def names(deps: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in deps}

    for stack in STACKS:
        for r in stack.requires:
            if isinstance(r, PythonPackage):
                extra = re.search(r"pip install 'tlsmatrix\[(\w+)\]'", r.install)
                assert extra and extra.group(1) in extras, (stack.name, r.install)
                assert r.module.lower() in names(extras[extra.group(1)]), (stack.name, extras[extra.group(1)])
    assert "pyyaml" in names(project["dependencies"])  # harness/certs/kubeconfig.py imports it at run time
    assert "trustme" not in names(project["dependencies"]) and "trustme" in names(extras["test"])
    makefile = (ROOT / "Makefile").read_text()
    assert all(f"{extra}" in makefile for extra in ("docker", "kube", "boringssl"))  # `make setup` installs them


def test_build_targets_and_stacks_share_one_set_of_install_hints():
    go = CLIENTS["go"]
    assert [p.package for p in go.debian_packages()] == ["golang-1.19-go"]
    assert "golang-1.19-go" in TARGETS["go"].hint


# --- the Debian packages: one list (the descriptors), used by the Makefile and nightly.yml ---------

PACKAGES = debian_packages(STACKS)
#: what nightly.yml's jobs install before `make setup` can run: checkout, the venv and rustup
#: (curl fetches rustup; gcc is Rust's linker): stack packages too, but needed earlier
BOOTSTRAP = {"curl", "gcc"}


def _recipe(makefile: str, target: str) -> str:
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert m, target
    return m.group(1)


def test_packages_list_every_stack_toolchain():
    assert len(PACKAGES) == len(set(PACKAGES))
    assert {"golang-1.19-go", "gnutls-bin", "libnss3-tools", "libwolfssl-dev", "curl", "libssl-dev",
            "pkg-config", "openjdk-17-jdk-headless", "nodejs"} <= set(PACKAGES)


def test_make_toolchains_installs_the_listed_packages_and_names_none_itself():
    makefile = (ROOT / "Makefile").read_text()
    recipe = _recipe(makefile, "toolchains")
    assert "list --packages --missing" in recipe and "apt-get install -y -qq $$missing" in recipe
    named = {p for p in PACKAGES if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", recipe)}
    assert not named, f"the Makefile names stack packages itself: {named}"


def _apt_packages(script: str) -> set[str]:
    out: set[str] = set()
    for line in script.replace("\\\n", " ").splitlines():
        if "apt-get install" in line:
            words = shlex.split(line.split("apt-get install", 1)[1])
            out |= {w for w in words if not w.startswith("-")}
    return out


def test_nightly_installs_the_same_packages_through_make_setup():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    stack_jobs = 0
    for name, job in workflow["jobs"].items():
        runs = "\n".join(step.get("run", "") for step in job["steps"])
        if "make setup" not in runs:
            continue
        stack_jobs += 1
        # root in a Debian container: `make setup` runs `make toolchains`, which installs PACKAGES
        assert str(job.get("container", "")).startswith("debian:"), name
        explicit = _apt_packages(runs)
        assert "python3-venv" in explicit, name  # `tlsmatrix list --packages` runs in the venv
        assert explicit & set(PACKAGES) <= BOOTSTRAP, f"{name}: a second list of stack packages"
    assert stack_jobs >= 2  # the shards and the soak run the stacks


def test_list_packages_prints_the_one_list():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "tlsmatrix", "list", "--packages"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == PACKAGES
    missing = subprocess.run([sys.executable, "-m", "tlsmatrix", "list", "--packages", "--missing"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 0 and set(missing.stdout.split()) <= set(PACKAGES)
