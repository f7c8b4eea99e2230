"""Files a run leaves: written atomically, and results never lost.

``results.json`` is written first and, when its directory fails at the end of a long run, to a
file in the temporary directory instead; :data:`SAVED` remembers where, so an error line can say
so (the command line appends it to its message).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .model.document import ResultsDocument
from .model.errors import HarnessError
from .validate import describe_os_error
from .model.paths import write_atomic

#: results.json files written by this process, newest last (where a later error says the results are)
SAVED: list[Path] = []

#: what a run writes into its output directory, beside each other
RUN_FILES = ("results.json", "matrix.md", "matrix.html")


def save_results(out_dir: Path, text: str) -> Path:
    """Write results.json; when that fails, to a file in the temp directory, and say where."""
    target = out_dir / "results.json"
    try:
        write_atomic(target, text)
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"tlsmatrix-results-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        write_atomic(fallback, text)
        SAVED.append(fallback)
        raise HarnessError(f"cannot write {target}: {describe_os_error(exc)}") from None
    SAVED.append(target)
    return target


def write_run_files(out_dir: Path, data: ResultsDocument) -> list[Path]:
    """results.json (first: nothing may lose it), the Markdown report and the HTML page."""
    from .report.formats import markdown_report
    from .report.html import render_html

    written = [save_results(out_dir, data.dumps())]
    for name, text in (("matrix.md", markdown_report(data)), ("matrix.html", render_html(data))):
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written
