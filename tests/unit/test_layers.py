"""The house in layers (docs/layout.md): harness/ is model ← certs ← stacks ← running ← report ← face.

Every import in harness/ (module level and inside functions, relative or absolute) is parsed; a
module may import its own layer and the layers below, never one above, and no file-level import
circle exists. The probe programs (harness/probes/) belong to the stacks layer."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
#: bottom to top; a module directly in harness/ is the face
LAYERS = ("model", "certs", "stacks", "running", "report")
FACE = len(LAYERS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(HARNESS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in HARNESS.rglob("*.py")}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in (*LAYERS, "probes"):
        return FACE
    return LAYERS.index("stacks") if parts[1] == "probes" else LAYERS.index(parts[1])


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> set[str]:
    """The harness modules ``module`` imports (a package's __init__ counts for `from pkg import name`)."""
    path = MODULES[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _target(module, path.name == "__init__.py", node)
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        for name in names:
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in MODULES and name != module and name.split(".")[0] == "harness":
                found.add(name)
    return found


GRAPH = {m: imports(m) for m in MODULES}


def test_the_five_layer_packages_exist():
    for name in LAYERS:
        assert (HARNESS / name / "__init__.py").is_file(), name


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(f"{m} ({LAYERS[layer(m)] if layer(m) < FACE else 'face'}) imports {d} "
                    f"({LAYERS[layer(d)] if layer(d) < FACE else 'face'})"
                    for m, deps in GRAPH.items() for d in deps if layer(d) > layer(m) and d != "harness")
    assert not upward, "\n".join(upward)


def test_only_the_face_imports_the_top_level_package():
    # harness/__init__.py is the face: a module below it takes what it needs from its own layer
    assert not sorted(m for m, deps in GRAPH.items() if "harness" in deps and layer(m) < FACE)


def test_no_import_circle():
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for dep in sorted(GRAPH[module]):
            if seen.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in seen:
                visit(dep, path + [dep])
        seen[module] = 2

    for module in sorted(GRAPH):
        if module not in seen:
            visit(module, [module])
    assert not cycles, "\n".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("module, expected", [("tlsmatrix.certs.pki", "certs"), ("tlsmatrix.probes.pyssl.client", "stacks"),
                                              ("tlsmatrix.api", "face"), ("tlsmatrix.model", "model")])
def test_the_layer_of_a_module_is_its_folder(module, expected):
    assert (LAYERS[layer(module)] if layer(module) < FACE else "face") == expected


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path):
    """The rule is not vacuous: a lazy import of the face from a lower layer is found."""
    node = ast.parse("def f():\n    from ..api import run\n").body[0].body[0]
    assert _target("tlsmatrix.certs.pki", False, node) == "tlsmatrix.api" and layer("tlsmatrix.api") > layer("tlsmatrix.certs.pki")
