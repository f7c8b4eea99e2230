"""Nothing local in what users attach: absolute directories of this machine → placeholders.

Results documents, and the Markdown, HTML, JUnit reports and bundles made from them, end up
in public bug reports. Error texts quote files (NSS names the CA file, probes their
commands, kube clients their kubeconfig), so every string of a document has the run's
directories replaced: ``<run>`` (the output directory), ``<pki>`` (the certificate cache),
``<build>``, ``<results>``, ``<checkout>`` (this tlsmatrix checkout), ``<tmp>`` and ``~``.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable


class Redactor:
    """Replaces each given absolute directory (as given and resolved) by its placeholder."""

    def __init__(self, pairs: Iterable[tuple[str | Path | None, str]]) -> None:
        table: dict[str, str] = {}
        for directory, placeholder in pairs:
            for form in _forms(directory):
                table.setdefault(form, placeholder)  # the first (most specific) placeholder wins
        self.table = table
        # longest first: at one position the alternation takes the first that matches
        alternatives = "|".join(re.escape(d) for d in sorted(table, key=len, reverse=True))
        # whole path components only: /tmp must not hit /tmpfs nor /var/tmp
        self._pattern = re.compile(f"(?<![\\w.-])(?:{alternatives})(?![\\w.-])") if table else None

    @classmethod
    def for_run(cls, out_dir: str | Path | None, pki_root: str | Path | None) -> "Redactor":
        from .paths import build_dir, project_root, results_dir

        return cls([(out_dir, "<run>"), (pki_root, "<pki>"), (build_dir(), "<build>"), (results_dir(), "<results>"),
                    (project_root(), "<checkout>"), (tempfile.gettempdir(), "<tmp>"), (_home(), "~")])

    def text(self, value: str) -> str:
        if self._pattern is None or "/" not in value:  # every directory here is absolute: no '/', nothing to do
            return value
        return self._pattern.sub(lambda m: self.table[m.group(0)], value)

    def document(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string redacted (keys too)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.document(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.document(v) for v in obj]
        return obj


def _forms(directory: str | Path | None) -> list[str]:
    """The absolute spellings of ``directory``: as given and with symlinks resolved ('/' never)."""
    if directory is None or str(directory) == "":
        return []
    path = Path(directory).expanduser()
    forms = {str(path.absolute()), str(path.resolve())}
    return [f.rstrip("/") for f in forms if f.rstrip("/") and os.path.isabs(f)]


def _home() -> str | None:
    try:
        return str(Path.home())
    except RuntimeError:  # no home directory (e.g. an unknown uid)
        return None
