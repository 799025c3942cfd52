"""The firing loop: the worker's housekeeping and `scraper serve`'s thread fire due schedules,
throttled per process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from scraper.models import Schedule, utcnow
from scraper.runtime import Runtime
from scraper.schedules import Ticking, tick
from scraper.worker import Worker
from tests.conftest import sqlite_only
from tests.plugins.waiting import wait_until
from tests.scraper.schedules.helpers import hourly, jobs_of, owner

pytestmark = sqlite_only


def _due_now(runtime: Runtime, schedule_id: int) -> None:
    with runtime.Session() as s, s.begin():
        past = utcnow() - timedelta(minutes=2)
        s.execute(update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=past))


def test_a_running_worker_fires_a_due_schedule_and_runs_its_job(runtime: Runtime) -> None:
    sid = hourly(runtime.Session, owner(runtime.Session))
    _due_now(runtime, sid)
    worker = Worker(runtime)
    worker.start()
    try:
        wait_until(
            lambda: [j.status for j in jobs_of(runtime.Session, sid)] == ["completed"],
            20,
            "the schedule's job to complete",
        )
    finally:
        worker.stop()
    (job,) = jobs_of(runtime.Session, sid)
    assert job.result["sources"]["selftest"]["stored"] == 2


@pytest.mark.slow
def test_serve_thread_fires_and_tick_is_throttled_per_process(runtime: Runtime) -> None:
    settings = runtime.settings.with_overrides(schedule_interval=60.0)
    sid = hourly(runtime.Session, owner(runtime.Session))
    _due_now(runtime, sid)
    ticking = Ticking(runtime.Session, settings)
    ticking.start()
    try:
        wait_until(lambda: len(jobs_of(runtime.Session, sid)) == 1, 10, "the tick's job")
    finally:
        ticking.stop()
    _due_now(runtime, sid)
    assert tick(runtime.Session, settings) is None  # looked less than 60 s ago
    assert len(jobs_of(runtime.Session, sid)) == 1
