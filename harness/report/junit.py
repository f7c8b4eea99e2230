"""The matrix as JUnit XML, for CI systems that show test reports.

One ``<testsuite>`` per scenario, one ``<testcase>`` per cell. The test is "the stack behaves as the
scenario expects": a cell fails only when its verdict is ``mismatch`` (a handshake failure that the
scenario expects passes), a cell that was not run is ``<skipped>``, and everything else passes.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from .html import run_info
from .table import _per_scenario, _scenario_title

#: characters XML 1.0 cannot carry, not even as character references
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    return _INVALID_XML.sub("", "" if value is None else str(value))


def _seconds(r: dict[str, Any]) -> float:
    try:
        return max(float(r.get("elapsed_ms") or 0) / 1000, 0.0)
    except (TypeError, ValueError):
        return 0.0


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def _expected(r: dict[str, Any]) -> tuple[list[str], str]:
    exp = r.get("expected")
    if not isinstance(exp, dict):
        return [], ""
    return [str(o) for o in exp.get("outcomes") or []], str(exp.get("why") or "")


def _describe(r: dict[str, Any]) -> str:
    """Multi-line text: what was expected, what happened, the raw error and the versions."""
    outcomes, why = _expected(r)
    lines = []
    if outcomes:
        lines.append(f"expected: {' or '.join(outcomes)}" + (f" — {why}" if why else ""))
    lines.append(f"got: {r.get('outcome')}" + (f" ({r['short_error']})" if r.get("short_error") else ""))
    lines.append(f"verdict: {r.get('verdict', 'unexpected')}")
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    if r.get("error_detail"):
        lines.append(f"error_detail: {r['error_detail']}")
    neg = r.get("negotiated")
    if isinstance(neg, dict) and any(neg.values()):
        lines.append("negotiated: " + " ".join(f"{k}={v}" for k, v in neg.items() if v))
    lines.append(f"client_version: {r.get('client_version') or '?'}")
    lines.append(f"server_version: {r.get('server_version') or '?'}")
    if r.get("attempts") not in (None, 1):
        lines.append(f"attempts: {r['attempts']}")
    if r.get("id"):
        lines.append(f"id: {r['id']}")
    return "\n".join(lines)


def _testcase(parent: ET.Element, r: dict[str, Any]) -> tuple[int, int]:
    """Adds one ``<testcase>``; returns (failures, skipped) it contributes."""
    chain = (r.get("chain") or {}).get("label")
    case = ET.SubElement(parent, "testcase", {
        "classname": xml_text(f"{r.get('scenario')}.{r.get('client')}"),
        "name": xml_text(f"{chain} | {r.get('server')} | TLS {r.get('tls') or 'any'}"),
        "time": _fmt(_seconds(r)),
    })
    if r.get("outcome") == "skipped":
        ET.SubElement(case, "skipped", {"message": xml_text(r.get("error") or r.get("short_error") or "not run")})
        return 0, 1
    if r.get("verdict") == "mismatch":
        outcomes, _ = _expected(r)
        message = f"expected {' or '.join(outcomes) or '?'}, got {r.get('outcome')}"
        if r.get("short_error") and r.get("short_error") != r.get("outcome"):
            message += f" ({r['short_error']})"
        failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": xml_text(r.get("outcome"))})
        failure.text = xml_text(_describe(r))
        return 1, 0
    if r.get("outcome") != "ok":
        # passes (expected, or no expectation), but keep the stack's own words where CI shows them
        ET.SubElement(case, "system-out").text = xml_text(_describe(r))
    return 0, 0


def _properties(parent: ET.Element, data: dict[str, Any], info: dict[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")

    def prop(name: str, value: Any) -> None:
        if value not in (None, ""):
            ET.SubElement(props, "property", {"name": xml_text(name), "value": xml_text(value)})

    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    run = run_info(data)
    prop("tlsmatrix.version", tool.get("version"))
    prop("schema_version", data.get("schema_version"))
    for key in ("started", "backend", "git_commit", "shard"):
        prop(f"run.{key}", run.get(key))
    prop("scenario.title", info.get("title"))
    prop("scenario.path", info.get("path"))
    prop("note", data.get("note") or "All certificates and keys are tlsmatrix TEST keys; never trust them.")
    for kind in ("clients", "servers"):
        for name, stack in (data.get(kind) or {}).items():
            if not isinstance(stack, dict):
                continue
            if stack.get("available"):
                text = " ".join(str(x) for x in (stack.get("stack"), stack.get("version")) if x)
                text += f" ({stack['provider']})" if stack.get("provider") else ""
            else:
                text = f"not available: {stack.get('reason')}"
            prop(f"{kind[:-1]}.{name}", text)


def render_junit(data: dict[str, Any]) -> str:
    """JUnit XML for a results document: failures are cells that contradict the scenario's expectation."""
    started = run_info(data).get("started")
    root = ET.Element("testsuites", {"name": "tlsmatrix"})
    totals = [0, 0, 0, 0.0]  # tests, failures, skipped, time
    for info, sub in _per_scenario(data):
        name = info.get("name")
        suite = ET.SubElement(root, "testsuite", {"name": xml_text(name)})
        _properties(suite, data, dict(info, title=_scenario_title(data, name) if info.get("title") else None))
        failures = skipped = 0
        seconds = 0.0
        for r in sub["results"]:
            f, s = _testcase(suite, r)
            failures += f
            skipped += s
            seconds += _seconds(r)
        tests = len(sub["results"])
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", _fmt(seconds))
        if started:
            suite.set("timestamp", xml_text(started))
        totals[0] += tests
        totals[1] += failures
        totals[2] += skipped
        totals[3] += seconds
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", "0")
    root.set("skipped", str(totals[2]))
    root.set("time", _fmt(totals[3]))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
