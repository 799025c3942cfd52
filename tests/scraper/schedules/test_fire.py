"""Firing: one job per tick (the run row's unique key), catch-up, pause and resume, owners."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, update

from scraper import schedules
from scraper.jobs.record import JobRecord
from scraper.models import Schedule, ScheduleRun, ScrapeJob, SeenItem, User
from scraper.runtime import Runtime
from scraper.schedules import fire_due, fire_one
from tests.scraper.schedules.helpers import at, hourly, jobs_of, owner


def test_a_tick_creates_one_job_carrying_the_schedule_id(runtime: Runtime) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    assert fire_due(runtime.Session, now=at(10, 59, 59)) == []
    fired = fire_due(runtime.Session, now=at(11, 0, 5))
    assert [(f.schedule_id, f.result, f.fire_at) for f in fired] == [(sid, "fired", at(11))]
    assert fire_due(runtime.Session, now=at(11, 0, 30)) == []
    (job,) = jobs_of(runtime.Session, sid)
    record = JobRecord.from_row(job).to_json()
    assert (record["schedule_id"], record["user_id"], record["status"]) == (sid, user, "pending")
    assert (record["query"], record["incremental"], record["enabled_sources"]) == (
        "cats",
        True,
        ["selftest"],
    )
    view = schedules.get(runtime.Session, sid, None)
    assert (view.last_run_at, view.last_job_id, view.next_run_at) == (at(11), job.id, at(12))
    assert view.last_status == "pending"


def test_a_second_firing_of_the_same_tick_is_refused_by_the_unique_key(runtime: Runtime) -> None:
    """A process that read the schedule before the winner committed tries the same tick:
    its run row's key exists, so it creates no job and only moves next_run_at on."""
    sid = hourly(runtime.Session, owner(runtime.Session))
    assert fire_one(runtime.Session, sid, at(11, 0, 5)).result == "fired"
    with runtime.Session() as s, s.begin():  # the stale read the loser acted on
        s.execute(update(Schedule).where(Schedule.id == sid).values(next_run_at=at(11)))
    lost = fire_one(runtime.Session, sid, at(11, 0, 6))
    assert (lost.result, lost.fire_at, lost.job_id) == ("already_fired", at(11), None)
    assert len(jobs_of(runtime.Session, sid)) == 1
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ScheduleRun)) == 1
        assert s.scalar(select(Schedule.next_run_at).where(Schedule.id == sid)) == at(12)


def test_ticks_missed_while_nothing_ran_give_one_catch_up_job(runtime: Runtime) -> None:
    sid = hourly(runtime.Session, owner(runtime.Session))
    # Nothing ran from 10:07 to 13:30: the 11:00, 12:00 and 13:00 ticks were missed.
    fired = fire_due(runtime.Session, now=at(13, 30))
    assert [(f.result, f.fire_at) for f in fired] == [("fired", at(13))]
    assert fire_due(runtime.Session, now=at(13, 31)) == []
    assert len(jobs_of(runtime.Session, sid)) == 1
    assert schedules.get(runtime.Session, sid, None).next_run_at == at(14)
    assert [f.result for f in fire_due(runtime.Session, now=at(14, 0, 1))] == ["fired"]
    assert len(jobs_of(runtime.Session, sid)) == 2


def test_a_paused_schedule_does_not_fire_and_resumes_from_now(runtime: Runtime) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    paused = schedules.pause(runtime.Session, sid, user)
    assert paused.paused and paused.next_run_at is None
    assert fire_due(runtime.Session, now=at(15, 10)) == []
    resumed = schedules.resume(runtime.Session, sid, user, now=at(15, 10))
    # The 11:00 to 15:00 ticks were missed while paused: none fires; the next is 16:00.
    assert (resumed.paused, resumed.next_run_at) == (False, at(16))
    assert fire_due(runtime.Session, now=at(15, 59)) == []
    assert [f.fire_at for f in fire_due(runtime.Session, now=at(16, 0, 1))] == [at(16)]
    assert len(jobs_of(runtime.Session, sid)) == 1


def test_a_schedule_of_a_deleted_user_is_paused_not_fired(runtime: Runtime) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    with runtime.Session() as s, s.begin():
        s.execute(delete(User).where(User.id == user))
    fired = fire_due(runtime.Session, now=at(11, 0, 1))
    assert [f.result for f in fired] == ["paused"]
    view = schedules.get(runtime.Session, sid, None)
    assert view.paused and "owner" in (view.paused_reason or "")
    assert jobs_of(runtime.Session, sid) == []


def _failed_job(runtime: Runtime, sid: int, user: int, minute: int, error: str) -> None:
    with runtime.Session() as s, s.begin():
        s.add(
            ScrapeJob(
                id=str(uuid.uuid4()),
                user_id=user,
                query="cats",
                max_content=2,
                enabled_sources=["openverse"],
                status="failed",
                error=error,
                schedule_id=sid,
                created_at=at(10, minute),
            )
        )


def test_failing_alike_shows_a_badge_and_pauses_after_the_configured_failures(
    runtime: Runtime,
) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    for minute in (10, 20):
        _failed_job(runtime, sid, user, minute, "SourceError: openverse: HTTP 503\nmore")
    assert schedules.get(runtime.Session, sid, None).failing is None  # two: no badge yet
    _failed_job(runtime, sid, user, 30, "SourceError: openverse: HTTP 503")
    badge = schedules.get(runtime.Session, sid, None).failing
    assert badge == {"jobs": 3, "error": "SourceError: openverse: HTTP 503"}
    assert [f.result for f in fire_due(runtime.Session, now=at(11), pause_after=4)] == ["fired"]
    with runtime.Session() as s, s.begin():  # the fired job failed too: four in a row
        s.execute(update(ScrapeJob).where(ScrapeJob.status == "pending").values(status="failed"))
    fired = fire_due(runtime.Session, now=at(12), pause_after=4)
    assert [f.result for f in fired] == ["paused"]
    view = schedules.get(runtime.Session, sid, None)
    assert view.paused and "4 failed jobs in a row" in (view.paused_reason or "")
    assert len(jobs_of(runtime.Session, sid)) == 4


def test_removing_a_schedule_prunes_its_runs_and_seen_items_and_keeps_its_jobs(
    runtime: Runtime,
) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    fire_due(runtime.Session, now=at(11))
    with runtime.Session() as s, s.begin():
        s.add(SeenItem(scope=f"s:{sid}", schedule_id=sid, source="selftest", item_hash="a" * 64,
                       item_key="cats/1"))  # fmt: skip
    schedules.remove(runtime.Session, sid, user)
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ScheduleRun)) == 0
        assert s.scalar(select(func.count()).select_from(SeenItem)) == 0
    assert len(jobs_of(runtime.Session, sid)) == 1
