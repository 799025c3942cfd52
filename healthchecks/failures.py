"""`jobs:recent_failures`: are the latest jobs all failing the same way?

One failure is a job's business; the last several failing with one error and none completed
since is a service that cannot run jobs (a source's API, the storage, a setting is broken):
`fail`, so `/readyz` and `ops doctor` (exit 1) both say so, and the error names the cause.
A cancelled job proves nothing either way and is passed over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select

from healthchecks.base import CheckResult, Status, guarded
from scraper.models import JobStatus, ScrapeJob

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "jobs:recent_failures"
LOOK_BACK = 20
PATTERN_AT = 3


def recent_finished_stmt() -> Select[Any]:
    """The newest finished jobs, newest first: a backward walk of an index on `finished_at`
    that stops after LOOK_BACK rows (never a sort of the table).

    Only `finished_at` is in the WHERE: a status filter would let the planner prefer the
    (status, ...) indexes and sort every completed job. Cancelled jobs are passed over after.
    """
    return (
        select(
            ScrapeJob.id,
            ScrapeJob.status,
            ScrapeJob.error,
            ScrapeJob.result,
            ScrapeJob.query,
            ScrapeJob.finished_at,
        )
        .where(ScrapeJob.finished_at.is_not(None))
        .order_by(ScrapeJob.finished_at.desc())
        .limit(LOOK_BACK)
    )


def _recent(runtime: Runtime) -> list[Any]:
    counted = (JobStatus.COMPLETED.value, JobStatus.FAILED.value)
    with runtime.Session() as s:
        rows = s.execute(recent_finished_stmt()).all()
    return [row for row in rows if row.status in counted]


def _streak(rows: list[Any]) -> list[Any]:
    """The newest finished jobs that failed with the same first line of error, in a row (so
    none completed since the first of them)."""
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
    """Fail when the newest PATTERN_AT or more finished jobs all failed with one error."""
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
    first_at, last_at = _when(streak[-1].finished_at), _when(streak[0].finished_at)
    return CheckResult(
        NAME,
        Status.FAIL,
        observed=len(streak),
        unit="jobs",
        output=(
            f"The last {len(streak)} jobs all failed with the same error, the first at "
            f"{first_at} and the last at {last_at}, and none completed since{where}: {error}"
        ),
        fix=(
            f"scraper search {streak[0].query!r} --source {source} --limit 1 --dry-run  "
            "(reproduces it outside a job; correct what it names, then retry the jobs)"
        ),
        evidence={
            "error": error,
            "count": len(streak),
            "first_at": first_at,
            "last_at": last_at,
            "sources": sources,
            "job_ids": [r.id for r in streak],
        },
        component_type="component",
    )


def _when(moment: datetime | None) -> str:
    """A finish time as ISO 8601 UTC, to the second."""
    if moment is None:
        return "an unknown time"
    if moment.tzinfo is None:  # stored naive, in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
