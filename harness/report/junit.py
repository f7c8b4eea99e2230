"""The matrix as JUnit XML, for CI systems that show test reports.

One ``<testsuite>`` per scenario, one ``<testcase>`` per cell. The test is "the stack behaves as the
scenario expects": a cell fails only when its verdict is ``mismatch`` (a handshake failure that the
scenario expects passes), a cell that was not run is ``<skipped>``, and everything else passes.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from ..model.document import CellRecord, ResultsDocument, ScenarioInfo
from .text import negotiated

#: characters XML 1.0 cannot carry, not even as character references
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    return _INVALID_XML.sub("", "" if value is None else str(value))


def _seconds(r: CellRecord) -> float:
    try:
        return max(float(r.elapsed_ms or 0) / 1000, 0.0)
    except (TypeError, ValueError):
        return 0.0


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def _describe(r: CellRecord) -> str:
    """Multi-line text: what was expected, what happened, the raw error and the versions."""
    lines = []
    if r.expected and r.expected.outcomes:
        why = r.expected.why
        lines.append(f"expected: {' or '.join(r.expected.outcomes)}" + (f" — {why}" if why else ""))
    lines.append(f"got: {r.outcome}" + (f" ({r.short_error})" if r.short_error else ""))
    lines.append(f"verdict: {r.verdict}")
    if r.error:
        lines.append(f"error: {r.error}")
    if r.error_detail:
        lines.append(f"error_detail: {r.error_detail}")
    if r.code:
        lines.append(f"code: {r.code}")
    if r.negotiated and any(r.negotiated.values()):
        lines.append("negotiated: " + negotiated(r.negotiated))
    lines.append(f"client_version: {r.client_version or '?'}")
    lines.append(f"server_version: {r.server_version or '?'}")
    if r.attempts != 1:
        lines.append(f"attempts: {r.attempts}")
    if r.id:
        lines.append(f"id: {r.id}")
    return "\n".join(lines)


def _testcase(parent: ET.Element, r: CellRecord) -> tuple[int, int]:
    """Adds one ``<testcase>``; returns (failures, skipped) it contributes."""
    case = ET.SubElement(parent, "testcase", {
        "classname": xml_text(f"{r.scenario}.{r.client}"),
        "name": xml_text(f"{r.chain_label} | {r.server} | TLS {r.tls_label}"),
        "time": _fmt(_seconds(r)),
    })
    if r.outcome == "skipped":
        ET.SubElement(case, "skipped", {"message": xml_text(r.error or r.short_error or "not run")})
        return 0, 1
    if r.verdict == "mismatch":
        outcomes = r.expected.outcomes if r.expected else []
        message = f"expected {' or '.join(outcomes) or '?'}, got {r.outcome}"
        if r.short_error and r.short_error != r.outcome:
            message += f" ({r.short_error})"
        failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": xml_text(r.outcome)})
        failure.text = xml_text(_describe(r))
        return 1, 0
    if r.outcome != "ok":
        # passes (expected, or no expectation), but keep the stack's own words where CI shows them
        ET.SubElement(case, "system-out").text = xml_text(_describe(r))
    return 0, 0


def _properties(parent: ET.Element, data: ResultsDocument, info: ScenarioInfo) -> None:
    props = ET.SubElement(parent, "properties")

    def prop(name: str, value: Any) -> None:
        if value not in (None, ""):
            ET.SubElement(props, "property", {"name": xml_text(name), "value": xml_text(value)})

    prop("tlsmatrix.version", data.tool.version)
    prop("schema_version", data.schema_version)
    for key in ("started", "backend", "git_commit", "shard"):
        prop(f"run.{key}", getattr(data.run, key))
    prop("scenario.title", info.heading if info.title else None)
    prop("scenario.path", info.path)
    prop("note", data.note or "All certificates and keys are tlsmatrix TEST keys; never trust them.")
    for kind, entries in (("client", data.clients), ("server", data.servers)):
        for name, entry in entries.items():
            prop(f"{kind}.{name}", entry.describe())


def render_junit(data: ResultsDocument | dict[str, Any]) -> str:
    """JUnit XML for a results document: failures are cells that contradict the scenario's expectation."""
    data = ResultsDocument.coerce(data)
    started = data.run.started
    root = ET.Element("testsuites", {"name": "tlsmatrix"})
    totals = [0, 0, 0, 0.0]  # tests, failures, skipped, time
    for info, sub in data.per_scenario():
        suite = ET.SubElement(root, "testsuite", {"name": xml_text(info.name)})
        _properties(suite, data, info)
        failures = skipped = 0
        seconds = 0.0
        for r in sub.cells:
            f, s = _testcase(suite, r)
            failures += f
            skipped += s
            seconds += _seconds(r)
        tests = len(sub.cells)
        for key, value in (("tests", tests), ("failures", failures), ("errors", 0), ("skipped", skipped)):
            suite.set(key, str(value))
        suite.set("time", _fmt(seconds))
        if started:
            suite.set("timestamp", xml_text(started))
        totals[0] += tests
        totals[1] += failures
        totals[2] += skipped
        totals[3] += seconds
    for key, value in (("tests", totals[0]), ("failures", totals[1]), ("errors", 0), ("skipped", totals[2])):
        root.set(key, str(value))
    root.set("time", _fmt(totals[3]))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
