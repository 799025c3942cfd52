"""A write the database refuses goes to the durable fallback, visibly, and returns exactly once."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select, text

from scraper.jobs import FallbackStore, NewJob
from scraper.jobs.reconcile import reconcile
from scraper.models import ScrapeJob
from scraper.runtime import Runtime
from scraper.worker import Worker

UPDATED_AT_TYPE = {"sqlite": "DATETIME", "postgresql": "TIMESTAMP", "mysql": "DATETIME(6)"}


def drop_updated_at(runtime: Runtime) -> None:
    """The seed's incident: `scrape_jobs` lacks a column the models write."""
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))


def restore_updated_at(runtime: Runtime) -> None:
    kind = UPDATED_AT_TYPE[runtime.engine.dialect.name]
    with runtime.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE scrape_jobs ADD COLUMN updated_at {kind}"))


def db_job_count(runtime: Runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(ScrapeJob)) or 0


def test_refused_write_is_held_logged_and_listed(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    drop_updated_at(runtime)
    with caplog.at_level(logging.ERROR, logger="scraper.jobs.service"):
        job = runtime.jobs.create(NewJob(query="cats", max_content=2))

    assert job.storage == "fallback"
    assert "updated_at" in (job.warning or "")
    refusal = [r for r in caplog.records if job.id in r.getMessage()]
    assert refusal and refusal[0].exc_info is not None  # logged with the traceback
    listed = runtime.jobs.list()
    assert [(j.id, j.storage) for j in listed.jobs] == [(job.id, "fallback")]
    assert runtime.jobs.get(job.id).storage == "fallback"
    assert runtime.fallback.count_by_status() == {"pending": 1}


def test_fallback_journal_survives_a_restart(runtime: Runtime) -> None:
    drop_updated_at(runtime)
    job = runtime.jobs.create(NewJob(query="dogs", max_content=2))
    journal = runtime.settings.fallback_journal
    lines = journal.read_text().splitlines()
    assert json.loads(lines[-1])["job"]["id"] == job.id

    reborn = FallbackStore(journal)  # a new process reading the same data dir
    held = reborn.get(job.id)
    assert held is not None and held.query == "dogs" and held.storage == "fallback"


def test_reconcile_moves_jobs_once_after_repair_and_a_worker_runs_them(runtime: Runtime) -> None:
    drop_updated_at(runtime)
    ids = [runtime.jobs.create(NewJob(query=f"q{i}", max_content=1)).id for i in range(3)]

    still_broken = runtime.jobs.reconcile()
    assert sorted(still_broken.failed) == sorted(ids) and len(runtime.fallback) == 3
    assert db_job_count(runtime) == 0  # nothing a worker could claim yet

    restore_updated_at(runtime)
    first = runtime.jobs.reconcile()
    second = runtime.jobs.reconcile()
    assert sorted(first.moved) == sorted(ids) and first.failed == {}
    assert second.moved == [] and second.already_present == []
    assert db_job_count(runtime) == 3 and len(runtime.fallback) == 0
    assert runtime.settings.fallback_journal.read_text() == ""  # compacted

    worker = Worker(runtime, downloader=None)
    while worker.run_once():
        pass
    assert runtime.store.count_by_status() == {"completed": 3}


def test_reconcile_after_a_crash_between_insert_and_journal_creates_no_duplicate(
    runtime: Runtime,
) -> None:
    drop_updated_at(runtime)
    job = runtime.jobs.create(NewJob(query="crash", max_content=1))
    restore_updated_at(runtime)
    runtime.store.insert(runtime.fallback.get(job.id))  # inserted, journal not yet updated

    result = reconcile(runtime.store, FallbackStore(runtime.settings.fallback_journal))
    assert result.already_present == [job.id] and result.moved == []
    assert db_job_count(runtime) == 1


def test_torn_last_journal_line_is_skipped(runtime: Runtime) -> None:
    drop_updated_at(runtime)
    job = runtime.jobs.create(NewJob(query="torn", max_content=1))
    with open(runtime.settings.fallback_journal, "a") as handle:
        handle.write('{"op": "put", "job": {"id": "half')  # a crash mid-write
    reborn = FallbackStore(runtime.settings.fallback_journal)
    assert [r.id for r in reborn.jobs()] == [job.id]


def test_cancel_a_fallback_job_is_journaled(runtime: Runtime) -> None:
    drop_updated_at(runtime)
    job = runtime.jobs.create(NewJob(query="stop", max_content=1))
    runtime.jobs.cancel(job.id)
    assert FallbackStore(runtime.settings.fallback_journal).get(job.id).status == "cancelled"
