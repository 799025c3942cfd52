"""Fire due schedules: one job per tick, however many processes on however many hosts try.

The database decides: the firing transaction inserts the tick's `schedule_runs` row, whose
UNIQUE (schedule_id, fire_at) admits one, and the job in the same transaction. Every other
process's insert of that key fails (an IntegrityError, after the winner commits), so it
creates nothing and only moves `next_run_at` on.

Catch-up: a schedule whose `next_run_at` has passed fires once, for the latest tick at or
before now; the ticks missed while nothing ran are skipped, not queued (three missed ticks
give one job). Paused schedules and those whose owner is gone or disabled do not fire.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scraper import rollup
from scraper.counters import JOBS_CREATED, SCHEDULE_RUNS
from scraper.models import Schedule, ScheduleRun, ScrapeJob, User, utcnow
from scraper.schedules import cron
from scraper.schedules.history import recent_jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    """What one attempt to fire a schedule did: `result` is the metric's label."""

    schedule_id: int
    result: str  # fired | already_fired | paused | error
    fire_at: datetime | None = None
    job_id: str | None = None
    detail: str | None = None


def fire_due(
    session_factory: sessionmaker[Session],
    now: datetime | None = None,
    fired_by: str | None = None,
    pause_after: int = 0,
) -> list[Fired]:
    """Fire every schedule due at `now`; what each attempt did."""
    now = now or utcnow()
    with session_factory() as s:
        due = s.scalars(
            select(Schedule.id)
            .where(Schedule.paused.is_(False), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
        ).all()
    return [fire_one(session_factory, one, now, fired_by, pause_after) for one in due]


def fire_one(
    session_factory: sessionmaker[Session],
    schedule_id: int,
    now: datetime,
    fired_by: str | None = None,
    pause_after: int = 0,
) -> Fired:
    """Fire one schedule's latest due tick, unless another process already has."""
    fire_at: datetime | None = None
    try:
        with session_factory() as s, s.begin():
            row = s.get(Schedule, schedule_id)
            if row is None or row.paused or row.next_run_at is None or row.next_run_at > now:
                return Fired(schedule_id, "not_due")
            refusal = _refusal(s, row, pause_after)
            if refusal is not None:
                row.paused, row.paused_reason = True, refusal
                return _count(Fired(schedule_id, "paused", detail=refusal))
            fire_at = cron.latest_tick(row.cron, row.timezone, now)
            job_id = str(uuid.uuid4())
            # The schedule's row first: racing firers queue on its lock (no deadlock between
            # the run's foreign-key check and this update on MariaDB), then meet the key.
            s.execute(
                update(Schedule)
                .where(Schedule.id == row.id)
                .values(
                    last_run_at=fire_at,
                    last_job_id=job_id,
                    next_run_at=cron.next_tick(row.cron, row.timezone, fire_at),
                    updated_at=now,
                )
            )
            run = ScheduleRun(schedule_id=row.id, fire_at=fire_at, job_id=job_id, fired_by=fired_by)
            s.add(run)
            s.flush()  # the unique key decides here: a second firing of this tick stops
            s.add(_job(row, job_id, fire_at, now))
            s.flush()
            rollup.add_job(s, job_id)
    except IntegrityError:
        if fire_at is not None:
            _advance(session_factory, schedule_id, fire_at)
        return _count(Fired(schedule_id, "already_fired", fire_at))
    except Exception as exc:  # e.g. a deadlock among the racing inserts: fire later
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        log.warning("schedule %s: could not fire (will retry): %s", schedule_id, detail)
        return _count(Fired(schedule_id, "error", fire_at, detail=detail))
    JOBS_CREATED.labels(storage="database").inc()
    log.info(
        "schedule %s fired its %s tick: job %s",
        schedule_id,
        fire_at.isoformat(),
        job_id,
        extra={"job_id": job_id},
    )
    return _count(Fired(schedule_id, "fired", fire_at, job_id))


def _refusal(s: Session, row: Schedule, pause_after: int) -> str | None:
    """Why this schedule must pause instead of firing: its owner is gone or disabled, or its
    last `pause_after` jobs all failed."""
    if row.user_id is None:
        return "its owner was deleted"
    active = s.scalar(select(User.is_active).where(User.id == row.user_id))
    if not active:
        return "its owner is disabled or deleted"
    if pause_after > 0:
        jobs = recent_jobs(s, row.id, pause_after)
        if len(jobs) == pause_after and all(status == "failed" for status, _ in jobs):
            error = (jobs[0][1] or "").strip().splitlines()[0] if jobs[0][1] else "failed"
            return f"paused after {pause_after} failed jobs in a row (last: {error})"[:500]
    return None


def _job(row: Schedule, job_id: str, fire_at: datetime, now: datetime) -> ScrapeJob:
    return ScrapeJob(
        id=job_id,
        user_id=row.user_id,
        query=row.query,
        max_content=row.max_content,
        safe_search=row.safe_search,
        enabled_sources=list(row.enabled_sources or []),
        message=f"queued by schedule {row.id} ({fire_at.isoformat()} tick)",
        schedule_id=row.id,
        incremental=row.incremental,
        created_at=now,
        updated_at=now,
    )


def _advance(session_factory: sessionmaker[Session], schedule_id: int, fire_at: datetime) -> None:
    """After losing a tick: move next_run_at past it, never back (the winner may have too)."""
    try:
        with session_factory() as s, s.begin():
            row = s.get(Schedule, schedule_id)
            if row is None:
                return
            later = cron.next_tick(row.cron, row.timezone, fire_at)
            s.execute(
                update(Schedule)
                .where(
                    Schedule.id == schedule_id,
                    or_(Schedule.next_run_at.is_(None), Schedule.next_run_at < later),
                )
                .values(next_run_at=later)
            )
    except SQLAlchemyError as exc:
        log.warning("schedule %s: could not move its next run on: %s", schedule_id, exc)


def _count(fired: Fired) -> Fired:
    SCHEDULE_RUNS.labels(result=fired.result).inc()
    return fired
