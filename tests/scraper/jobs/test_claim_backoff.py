"""A worker whose claims fail backs off, logs once a minute with a count, and says why."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import text

from healthchecks import run_checks
from scraper.jobs import NewJob
from scraper.runtime import Runtime
from scraper.worker import Worker
from scraper.worker.backoff import FailureBackoff
from scraper.worker.loop import CLAIM_RETRY_CAP
from tests.conftest import sqlite_only
from tests.plugins.waiting import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_its_cap_and_logs_once_a_minute_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    backoff = FailureBackoff("claims", logging.getLogger("t"), base=1.0, cap=8.0, clock=clock)
    with caplog.at_level(logging.ERROR, logger="t"):
        delays = []
        for _ in range(120):  # two minutes of failures, one every second
            delays.append(backoff.failed("no such column: scrape_jobs.updated_at"))
            clock.now += 1.0
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "(60 failure(s) since the last report)" in lines[1]
    assert backoff.summary == "claims are failing: no such column: scrape_jobs.updated_at"
    backoff.succeeded()
    assert backoff.summary is None and backoff.failed("again") == 1.0


@sqlite_only
@pytest.mark.slow
def test_a_worker_that_cannot_claim_says_so_in_the_worker_check(runtime: Runtime) -> None:
    runtime.jobs.create(NewJob(query="waiting", max_content=1))
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    worker = Worker(runtime, concurrency=1)
    worker.start()
    try:
        deadline = time.monotonic() + 15
        while True:
            check = run_checks(runtime, ("worker:heartbeat",))[0]
            if "claims are failing" in check.output or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        worker.stop(timeout=10)
    assert check.status.value == "warn"
    assert "claims are failing: " in check.output and "updated_at" in check.output
    assert worker.claims.streak < 10  # backed off, not a claim every poll


def test_a_failing_claim_is_retried_within_three_seconds() -> None:
    backoff = FailureBackoff("claims", logging.getLogger("t"), base=0.05, cap=CLAIM_RETRY_CAP)
    assert max(backoff.failed("refused") for _ in range(50)) == 3.0


@pytest.mark.slow
@sqlite_only
def test_claims_working_again_clear_the_heartbeat_at_once(runtime: Runtime) -> None:
    def last_error() -> str | None:
        with runtime.engine.connect() as conn:
            return conn.execute(text("SELECT last_error FROM worker_heartbeats")).scalar()

    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs RENAME TO scrape_jobs_aside"))
    worker = Worker(runtime, concurrency=1)
    worker.start()
    try:
        wait_until(lambda: (last_error() or "").startswith("claims are failing"), 15, "failing")
        time.sleep(6)  # the backoff grows to its cap (base 0.05 s: 0.05, 0.1 … 3 s)
        with runtime.engine.begin() as conn:
            conn.execute(text("ALTER TABLE scrape_jobs_aside RENAME TO scrape_jobs"))
        fixed = time.monotonic()
        wait_until(lambda: last_error() is None, 15, "the heartbeat to clear")
        cleared = time.monotonic() - fixed
        job = runtime.jobs.create(NewJob(query="after", max_content=1))
        wait_until(lambda: runtime.store.get(job.id).status == "completed", 15, "the job")
    finally:
        worker.stop(timeout=10)
    assert cleared <= 3.5, cleared  # was up to 30 s of backoff, then the next beat
