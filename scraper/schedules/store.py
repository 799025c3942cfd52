"""Schedules in the database: create, read (with the last job's outcome), pause, resume,
remove. Reads and changes take `owner`: a user id limits them to that user's schedules, None
(an admin) to none; someone else's schedule is "not found", as jobs are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import Schedule, ScheduleRun, ScrapeJob, SeenItem, User, utcnow
from scraper.schedules import cron
from scraper.schedules.errors import ScheduleNotFound
from scraper.schedules.history import FAILING_AFTER, failed_alike, recent_jobs

MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule: the search its ticks submit, and when."""

    query: str
    cron: str
    timezone: str = "UTC"
    max_content: int = 10
    safe_search: bool = True
    enabled_sources: tuple[str, ...] = ("selftest",)
    incremental: bool = True


def _isoformat(value: datetime) -> str:
    return value.isoformat()  # "+00:00", as jobs write it (pydantic would write "Z")


Instant = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]


class ScheduleView(BaseModel):
    """A schedule as the API, the CLI and the page show it (the API documents this model)."""

    schedule_id: int
    user_id: int | None
    owner: str | None
    query: str
    cron: str
    timezone: str
    max_content: int
    safe_search: bool
    enabled_sources: list[str]
    incremental: bool
    paused: bool
    paused_reason: str | None = Field(None, description="Why it is paused (by hand or itself).")
    next_run_at: Instant | None = Field(None, description="The next tick (UTC); null while paused.")
    last_run_at: Instant | None
    last_job_id: str | None
    last_status: str | None
    created_at: Instant | None
    failing: dict[str, Any] | None = Field(
        None, description='Set when its last jobs failed alike: {"jobs": N, "error": "..."}.'
    )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def create(
    session_factory: sessionmaker[Session],
    spec: ScheduleSpec,
    user_id: int | None,
    now: datetime | None = None,
) -> ScheduleView:
    """Store a schedule (its cron and zone checked: InvalidSchedule names the field)."""
    first = cron.validate(spec.cron, spec.timezone, now or utcnow())
    with session_factory() as s, s.begin():
        row = Schedule(
            user_id=user_id,
            query=spec.query,
            max_content=spec.max_content,
            safe_search=spec.safe_search,
            enabled_sources=list(spec.enabled_sources),
            incremental=spec.incremental,
            cron=" ".join(spec.cron.split()),
            timezone=spec.timezone,
            next_run_at=first,
        )
        s.add(row)
        s.flush()
        schedule_id = row.id
    return get(session_factory, schedule_id, None)


def list_schedules(session_factory: sessionmaker[Session], owner: int | None) -> list[ScheduleView]:
    """Every schedule the owner may see, oldest first."""
    with session_factory() as s:
        rows = s.scalars(select(Schedule).where(*_owned(owner)).order_by(Schedule.id)).all()
        return [_view(s, row) for row in rows]


def get(
    session_factory: sessionmaker[Session], schedule_id: int, owner: int | None
) -> ScheduleView:
    """One schedule; ScheduleNotFound if absent or not the owner's."""
    with session_factory() as s:
        return _view(s, _require(s, schedule_id, owner))


def pause(
    session_factory: sessionmaker[Session],
    schedule_id: int,
    owner: int | None,
    reason: str | None = None,
) -> ScheduleView:
    """Stop firing until resumed."""
    with session_factory() as s, s.begin():
        row = _require(s, schedule_id, owner)
        row.paused, row.paused_reason = True, reason or "paused"
    return get(session_factory, schedule_id, owner)


def resume(
    session_factory: sessionmaker[Session],
    schedule_id: int,
    owner: int | None,
    now: datetime | None = None,
) -> ScheduleView:
    """Fire again from the next tick after now: the ticks missed while paused never fire."""
    with session_factory() as s, s.begin():
        row = _require(s, schedule_id, owner)
        row.paused, row.paused_reason = False, None
        row.next_run_at = cron.next_tick(row.cron, row.timezone, now or utcnow())
    return get(session_factory, schedule_id, owner)


def remove(session_factory: sessionmaker[Session], schedule_id: int, owner: int | None) -> None:
    """Delete a schedule with its runs and its seen items (its jobs stay, naming it)."""
    with session_factory() as s, s.begin():
        _require(s, schedule_id, owner)
        s.execute(delete(SeenItem).where(SeenItem.schedule_id == schedule_id))
        s.execute(delete(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id))
        s.execute(delete(Schedule).where(Schedule.id == schedule_id))


def _owned(owner: int | None) -> list[ColumnElement[bool]]:
    return [] if owner is None else [Schedule.user_id == owner]


def _require(s: Session, schedule_id: int, owner: int | None) -> Schedule:
    row = s.get(Schedule, schedule_id) if 0 < schedule_id <= MAX_ID else None
    if row is None or (owner is not None and row.user_id != owner):
        raise ScheduleNotFound(schedule_id)
    return row


def _view(s: Session, row: Schedule) -> ScheduleView:
    last_status = None
    if row.last_job_id is not None:
        last_status = s.scalar(select(ScrapeJob.status).where(ScrapeJob.id == row.last_job_id))
    error = failed_alike(recent_jobs(s, row.id, FAILING_AFTER), FAILING_AFTER)
    failing = {"jobs": FAILING_AFTER, "error": error} if error is not None else None
    owner = s.scalar(select(User.username).where(User.id == row.user_id)) if row.user_id else None
    return ScheduleView(
        schedule_id=row.id,
        user_id=row.user_id,
        owner=owner,
        query=row.query,
        cron=row.cron,
        timezone=row.timezone,
        max_content=row.max_content,
        safe_search=row.safe_search,
        enabled_sources=list(row.enabled_sources or []),
        incremental=row.incremental,
        paused=row.paused,
        paused_reason=row.paused_reason,
        next_run_at=None if row.paused else row.next_run_at,
        last_run_at=row.last_run_at,
        last_job_id=row.last_job_id,
        last_status=last_status,
        created_at=row.created_at,
        failing=failing,
    )


def next_runs(session_factory: sessionmaker[Session]) -> dict[int, datetime]:
    """Each unpaused schedule's next tick (the metrics gauge reads this at scrape time)."""
    with session_factory() as s:
        rows = s.execute(
            select(Schedule.id, Schedule.next_run_at).where(
                Schedule.paused.is_(False), Schedule.next_run_at.is_not(None)
            )
        ).all()
    return {row.id: row.next_run_at for row in rows}
