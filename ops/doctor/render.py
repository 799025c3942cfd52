"""The doctor's report as a person reads it: the root cause first, then the rest."""

from __future__ import annotations

import json
from typing import Any

from ops.doctor import Diagnosis, HealReport
from ops.doctor.reasoning import RootCause

MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def render_diagnosis(diagnosis: Diagnosis) -> str:
    """Verdict, root cause with evidence and fix, other findings, every check."""
    lines: list[str] = []
    cause = diagnosis.root_cause
    if cause is None:
        lines.append(f"ops doctor: healthy ({diagnosis.status})")
    else:
        verdict = "PROBLEM FOUND" if diagnosis.problem else "warnings only"
        lines.append(f"ops doctor: {verdict} ({len(diagnosis.causes)} finding(s))")
        lines.extend(["", *_cause_lines("Root cause", cause)])
    if len(diagnosis.causes) > 1:
        lines.extend(["", "Other findings:"])
        lines.extend(f"  - [{c.check}] {c.summary}  fix: {c.fix}" for c in diagnosis.causes[1:])
    lines.extend(["", "Checks:"])
    for check in diagnosis.checks:
        lines.append(f"  {MARK[check.status.value]}  {check.name:<26} {check.output}")
    return "\n".join(lines)


def _cause_lines(title: str, cause: RootCause) -> list[str]:
    lines = [f"{title} [{cause.check}]:", f"  {cause.summary}", "  Evidence:"]
    lines.extend(_evidence(cause.evidence))
    lines.append(
        f"  Fix: {cause.fix}" + ("  (`ops doctor --heal` applies it)" if cause.heal else "")
    )
    return lines


def _evidence(evidence: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in evidence.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"    {key}:")
            lines.extend(f"      - {_compact(item)}" for item in value[:5])
        else:
            lines.append(f"    {key}: {_short(value)}")
    return lines


def _compact(item: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in item.items() if v not in (None, "", []))


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def render_heal(report: HealReport) -> str:
    """Before, the fixes applied, after."""
    before = report.before.root_cause
    lines = [f"Before: {report.before.status}" + (f" — {before.summary}" if before else "")]
    if not report.actions:
        lines.append("No safe fix applies; see the fix command below.")
    for action in report.actions:
        lines.append(f"Healed [{'ok' if action.ok else 'FAILED'}] {action.name}: {action.detail}")
    lines.extend(["", "After:", render_diagnosis(report.after)])
    return "\n".join(lines)
