"""What a trace found: one `Hop` per stage, and the report that names the first broken one."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Hop:
    """One stage of the job's path: did it pass, how long it took, and what was seen."""

    name: str
    status: str
    seconds: float
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class TraceReport:
    """Every hop in order, the test job, and what the clean-up did."""

    target: str
    job_id: str | None = None
    query: str | None = None
    hops: list[Hop] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)

    @property
    def broken(self) -> Hop | None:
        """The first hop that failed, if any."""
        return next((hop for hop in self.hops if hop.status == FAIL), None)

    @property
    def ok(self) -> bool:
        return bool(self.hops) and all(hop.status == PASS for hop in self.hops)

    def to_json(self) -> dict[str, Any]:
        broken = self.broken
        return {
            "status": PASS if self.ok else FAIL,
            "target": self.target,
            "job_id": self.job_id,
            "query": self.query,
            "first_broken_hop": broken.name if broken else None,
            "summary": broken.summary if broken else "every hop passed",
            "hops": [asdict(hop) for hop in self.hops],
            "cleanup": self.cleanup,
        }


MARKS = {PASS: "PASS", FAIL: "FAIL", SKIP: "skip"}


def render_text(report: TraceReport) -> str:
    """The report as a person reads it: one line per hop, its evidence, then the verdict."""
    lines = [f"ops trace against {report.target}: job {report.job_id or '-'}"]
    for number, hop in enumerate(report.hops, 1):
        lines.append(
            f"{number}. [{MARKS[hop.status]}] {hop.name:<18} {hop.seconds:6.2f}s  {hop.summary}"
        )
        if hop.status != SKIP:
            lines.extend(f"      {key}: {_short(value)}" for key, value in hop.evidence.items())
    broken = report.broken
    if broken is None:
        lines.append("All hops passed.")
    else:
        lines.append(f"First broken hop: {broken.name}: {broken.summary}")
    lines.extend(f"cleanup: {item}" for item in report.cleanup)
    return "\n".join(lines)


def _short(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
