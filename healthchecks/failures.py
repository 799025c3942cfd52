"""`jobs:recent_failures`: are the latest jobs all failing the same way?

One failure is a job's business; the last several failing with one error is a broken
dependency (a source's API, the storage, a setting), and the error names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from healthchecks.base import CheckResult, Status, guarded
from scraper.models import FINAL_STATUSES, JobStatus, ScrapeJob

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "jobs:recent_failures"
LOOK_BACK = 20
PATTERN_AT = 3


def _recent(runtime: Runtime) -> list[Any]:
    stmt = (
        select(ScrapeJob.id, ScrapeJob.status, ScrapeJob.error, ScrapeJob.result, ScrapeJob.query)
        .where(
            ScrapeJob.status.in_([s.value for s in FINAL_STATUSES]),
            ScrapeJob.finished_at.is_not(None),
        )
        .order_by(ScrapeJob.finished_at.desc())
        .limit(LOOK_BACK)
    )
    with runtime.Session() as s:
        return list(s.execute(stmt).all())


def _streak(rows: list[Any]) -> list[Any]:
    """The newest finished jobs that failed with the same first line of error, in a row."""
    streak: list[Any] = []
    for row in rows:
        if row.status != JobStatus.FAILED.value or _first(row.error) != _first(
            (streak or [row])[0].error
        ):
            break
        streak.append(row)
    return streak


def _first(error: str | None) -> str:
    return (error or "no error recorded").strip().splitlines()[0][:300]


def _failed_sources(rows: list[Any]) -> list[str]:
    names: set[str] = set()
    for row in rows:
        sources = (row.result or {}).get("sources", {}) if isinstance(row.result, dict) else {}
        names.update(name for name, r in sources.items() if isinstance(r, dict) and r.get("error"))
    return sorted(names)


@guarded(NAME, unit="jobs", component_type="component")
def check(runtime: Runtime) -> CheckResult:
    """Warn when the newest PATTERN_AT or more finished jobs all failed with one error."""
    streak = _streak(_recent(runtime))
    if len(streak) < PATTERN_AT:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=len(streak),
            unit="jobs",
            output="No repeated failure among the latest jobs.",
            component_type="component",
        )
    error, sources = _first(streak[0].error), _failed_sources(streak)
    where = f" (failing sources: {', '.join(sources)})" if sources else ""
    source = sources[0] if sources else "SOURCE"
    return CheckResult(
        NAME,
        Status.WARN,
        observed=len(streak),
        unit="jobs",
        output=f"The last {len(streak)} jobs all failed with the same error{where}: {error}",
        fix=(
            f"scraper search {streak[0].query!r} --source {source} --limit 1 --dry-run  "
            "(reproduces it outside a job; correct what it names, then retry the jobs)"
        ),
        evidence={"error": error, "sources": sources, "job_ids": [r.id for r in streak]},
        component_type="component",
    )
