"""Nothing local in what users attach: absolute directories of this machine → placeholders.

Results documents, and the Markdown, HTML, JUnit reports and bundles made from them, end up
in public bug reports. Error texts quote files (NSS names the CA file, probes their
commands, kube clients their kubeconfig), so every string of a document has the run's
directories replaced: ``<run>`` (the output directory), ``<pki>`` (the certificate cache),
``<build>``, ``<results>``, ``<checkout>`` (this tlsmatrix checkout), ``<tmp>`` and ``~``.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
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
        new = self._pattern.sub(lambda m: self.table[m.group(0)], value)
        return value if new == value else new  # unchanged: the same object (document() copies nothing)

    def document(self, obj: Any) -> Any:
        """``obj`` with every string redacted (keys too): a JSON-like value, or a frozen model (a results
        document) walked field by field. What holds no local path is returned as is, not copied: in a
        run's document most strings have none, and rebuilding it through JSON cost more than the run's
        whole report (~0.5 s of a 3,528-cell run)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, enum.Enum):  # a fixed vocabulary (outcomes), no paths
            return obj
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changed = {name: new for name in _field_names(type(obj))
                       if (new := self.document(old := getattr(obj, name))) is not old}
            return dataclasses.replace(obj, **changed) if changed else obj
        if isinstance(obj, dict):
            items = [(self.document(k), self.document(v)) for k, v in obj.items()]
            same = all(nk is k and nv is v for (nk, nv), (k, v) in zip(items, obj.items()))
            return obj if same else dict(items)
        if isinstance(obj, (list, tuple)):
            items = [self.document(v) for v in obj]
            return obj if all(n is o for n, o in zip(items, obj)) else type(obj)(items)
        return obj


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The fields ``dataclasses.replace`` can set (a field without ``init`` is computed, not given)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


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
