"""A results document in each output format (`tlsmatrix report --format`, `tlsmatrix matrix --format`)."""
from __future__ import annotations

from ..model.document import ResultsDocument

REPORT_FORMATS = ("table", "markdown", "html", "junit", "json")


def render(data: ResultsDocument, fmt: str) -> str:
    """A results document in one of :data:`REPORT_FORMATS`."""
    if fmt == "json":
        return data.dumps()
    if fmt == "markdown":
        return markdown_report(data)
    if fmt == "html":
        from .html import render_html

        return render_html(data)
    if fmt == "junit":
        from .junit import render_junit

        return render_junit(data)
    from .table import render_text

    return render_text(data) + explain_text(data)


def markdown_report(data: ResultsDocument) -> str:
    """The comment-sized Markdown report plus the computed explanation (``matrix.md``)."""
    from .explain import explain, render_explain
    from .details import render_markdown_report

    text = render_markdown_report(data)
    findings = explain(data)
    if findings:
        text += "\n## Explain (computed from the results)\n\n```\n" + render_explain(findings).rstrip() + "\n```\n"
    return text


def explain_text(data: ResultsDocument) -> str:
    """The differential explanation printed at the end of a matrix (empty when nothing differs)."""
    from .explain import explain, render_explain

    findings = explain(data)
    return ("\nExplain (computed from the results):\n" + render_explain(findings).rstrip() + "\n") if findings else ""
