"""No function in harness/ longer than 80 lines (issue 11, item 6): a long function is where the next
change gets hard."""
from __future__ import annotations

import ast
from pathlib import Path

MAX_LINES = 80
HARNESS = Path(__file__).resolve().parents[2] / "harness"
#: path:function -> its length when the rule came; a longer one fails too
KNOWN_LONG: dict[str, int] = {}


def long_functions(root: Path = HARNESS, limit: int = MAX_LINES) -> dict[str, int]:
    """path:function -> lines, for every function (methods and nested ones too) longer than ``limit``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_is_longer_than_80_lines():
    found = long_functions()
    new = {name: n for name, n in found.items() if name not in KNOWN_LONG}
    assert not new, f"functions over {MAX_LINES} lines: {new} (split them)"
    grown = {name: n for name, n in found.items() if name in KNOWN_LONG and n > KNOWN_LONG[name]}
    assert not grown, f"known long functions grew: {grown}"


def test_the_command_line_stays_thin():
    """cli.py parses, calls the library and renders (the arguments: cliargs.py)."""
    assert len((HARNESS / "cli.py").read_text(encoding="utf-8").splitlines()) < 350


if __name__ == "__main__":  # python -m tests.unit.test_function_length: the list, for a look
    for name, n in sorted(long_functions().items(), key=lambda kv: -kv[1]):
        print(f"{n:4d}  {name}")
