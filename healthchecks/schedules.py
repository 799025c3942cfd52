"""`schedules:failing`: is a schedule whose last jobs all failed alike (the dashboard's badge)?

A schedule fires unattended: when its last FAILING_AFTER jobs failed with one error, nobody
may be looking, so `ops doctor` names it (and it pauses itself after
SCRAPER_SCHEDULE_PAUSE_AFTER failures in a row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from healthchecks.base import CheckResult, Status, guarded
from scraper.models import Schedule
from scraper.schedules.history import FAILING_AFTER, failed_alike, recent_jobs

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "schedules:failing"
MAX_SCHEDULES = 500


def _failing(runtime: Runtime) -> list[tuple[int, str, str]]:
    """(schedule id, query, shared error) of each schedule whose last jobs failed alike."""
    found = []
    with runtime.Session() as s:
        rows = s.execute(select(Schedule.id, Schedule.query).limit(MAX_SCHEDULES)).all()
        for row in rows:
            error = failed_alike(recent_jobs(s, row.id, FAILING_AFTER), FAILING_AFTER)
            if error is not None:
                found.append((row.id, row.query, error))
    return found


@guarded(NAME, unit="schedules", component_type="component")
def check(runtime: Runtime) -> CheckResult:
    """Warn naming each schedule whose last FAILING_AFTER jobs failed with one error."""
    try:
        failing = _failing(runtime)
    except SQLAlchemyError:  # no schedules table yet: the schema check says so
        failing = []
    if not failing:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=0,
            unit="schedules",
            output="No schedule's last jobs all failed.",
            component_type="component",
        )
    named = "; ".join(f"schedule {sid} ({query!r}): {error}" for sid, query, error in failing)
    return CheckResult(
        NAME,
        Status.WARN,
        observed=len(failing),
        unit="schedules",
        output=f"The last {FAILING_AFTER} jobs of {len(failing)} schedule(s) failed alike: {named}",
        fix=f"scraper schedule pause {failing[0][0]}  (then correct what the error names)",
        evidence={"schedules": [{"schedule_id": s, "query": q, "error": e} for s, q, e in failing]},
        component_type="component",
    )
