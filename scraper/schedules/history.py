"""A schedule's recent outcomes: its last jobs and whether they all failed alike.

Apart from the store (its Pydantic views): `ops doctor`'s schedules check and the firing's
pause read only this, and a doctor process need not build the API's models (issue 29: the
doctor's start-up time).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scraper.models import ScrapeJob

FAILING_AFTER = 3  # the last this many jobs failed alike: the schedule shows a badge


def recent_jobs(s: Session, schedule_id: int, count: int) -> list[tuple[str, str | None]]:
    """(status, error) of the schedule's last `count` jobs, newest first (indexed)."""
    rows = s.execute(
        select(ScrapeJob.status, ScrapeJob.error)
        .where(ScrapeJob.schedule_id == schedule_id)
        .order_by(ScrapeJob.created_at.desc(), ScrapeJob.id.desc())
        .limit(count)
    ).all()
    return [(row.status, row.error) for row in rows]


def failed_alike(jobs: list[tuple[str, str | None]], count: int) -> str | None:
    """The shared error's first line when the `count` jobs all failed with it, else None."""
    if count <= 0 or len(jobs) < count or any(status != "failed" for status, _ in jobs[:count]):
        return None
    errors = {(error or "").strip().splitlines()[0] if error else "" for _, error in jobs[:count]}
    return errors.pop() or "failed" if len(errors) == 1 else None
