"""Every path the documentation names exists: a move (docs/layout.md's layers) leaves no stale pointer."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("scenarios/**/*.md")])
#: a repository path: harness/…, scenarios/…, tests/…, docs/…, results/baseline/… (globs are patterns, not paths)
PATH = re.compile(r"(?<![\w/.-])((?:harness|scenarios|tests|docs|results/baseline)/[\w./@-]*[\w/])(?![\w*@-]|\.\w)")


def named_paths(text: str) -> set[str]:
    return {m.group(1) for m in PATH.finditer(text)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_document_names_exists(doc):
    missing = sorted(p for p in named_paths(doc.read_text()) if not (ROOT / p).exists())
    assert not missing, missing


def test_the_pattern_finds_paths_and_not_globs():
    text = ("see harness/certs/pki.py, `harness/probes/` and results/baseline/x.json; not scenarios/*.toml "
            "nor docs/probe-*.schema.json; a sentence ends with harness/api.py.")
    assert named_paths(text) == {"harness/certs/pki.py", "harness/probes/", "results/baseline/x.json", "harness/api.py"}
