"""Each check on a healthy and a broken system: status, observed value, output and fix."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from healthchecks import (
    CHECKS,
    Status,
    database,
    fallback,
    queue,
    run_checks,
    schema,
    storage,
    workers,
)
from scraper.config import Settings
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat
from tests.conftest import sqlite_only
from tests.plugins.observability import run_selftest_jobs
from tests.plugins.statements import sent_statements

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.fixture
def unreachable(tmp_path: Path) -> Runtime:
    (tmp_path / "data").mkdir()
    runtime = Runtime(Settings(database_url=UNREACHABLE, data_dir=tmp_path / "data"))
    yield runtime
    runtime.close()


def test_database_check_passes_with_latency_in_ms(runtime: Runtime) -> None:
    result = database.check(runtime)
    assert (result.name, result.status, result.unit) == ("database:connection", Status.PASS, "ms")
    assert result.observed >= 0


def test_database_check_fails_without_raising_when_unreachable(unreachable: Runtime) -> None:
    result = database.check(unreachable)
    assert result.status is Status.FAIL
    # named from the driver's refusal (healthchecks.remedy.connect): nothing on that port
    assert result.output.startswith("Nothing listens on 127.0.0.1:1: the connection was refused")
    assert result.fix and "SCRAPER_DATABASE_URL" in result.fix


def test_run_checks_never_raises_and_reports_the_database_first(unreachable: Runtime) -> None:
    results = {r.name: r for r in run_checks(unreachable)}
    assert set(results) == set(CHECKS)
    assert results["database:connection"].status is Status.FAIL
    for name in ("schema:in_sync", "worker:heartbeat", "queue:oldest_pending_age"):
        assert results[name].status is Status.FAIL
        assert results[name].output.startswith("Not checked: the database is unreachable")
    assert results["storage:writable"].status is Status.PASS
    assert results["fallback:jobs"].status is Status.PASS


def test_each_check_is_total_even_called_alone(unreachable: Runtime) -> None:
    for check in CHECKS.values():
        result = check.run(unreachable)
        assert result.name == check.name and result.output


def test_schema_check_passes_then_fails_on_a_missing_table(runtime: Runtime) -> None:
    assert schema.check(runtime).status is Status.PASS
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE assets"))
    result = schema.check(runtime)
    assert result.status is Status.FAIL and result.fix == "ops migrate"
    assert result.observed >= 1 and "assets" in result.output


def test_schema_check_on_an_empty_database_says_init_db(settings: Settings) -> None:
    empty = Runtime(settings)
    try:
        result = schema.check(empty)
        assert result.status is Status.FAIL and result.fix == "ops init-db"
    finally:
        empty.close()


def test_worker_check_warns_without_a_worker_and_passes_with_one(runtime: Runtime) -> None:
    run_selftest_jobs(runtime, completed=0, pending=1)
    missing = workers.check(runtime)
    assert missing.status is Status.WARN and missing.fix == "scraper worker"
    assert "1 pending job" in missing.output
    beat(runtime.Session, "w-1", 0, 0)
    fresh = workers.check(runtime)
    assert fresh.status is Status.PASS and fresh.observed < 5 and fresh.unit == "s"


def test_worker_check_warns_on_a_stale_heartbeat(runtime: Runtime) -> None:
    beat(runtime.Session, "w-old", 0, 0)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE worker_heartbeats SET last_seen_at = :at"), {"at": _ago(600)})
    result = workers.check(runtime)
    assert result.status is Status.WARN and result.observed >= 590


def test_queue_age_passes_fresh_and_warns_old(runtime: Runtime) -> None:
    run_selftest_jobs(runtime, completed=0, pending=2)
    assert queue.check_oldest_pending(runtime).status is Status.PASS
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE scrape_jobs SET created_at = :at"), {"at": _ago(3600)})
    result = queue.check_oldest_pending(runtime)
    assert result.status is Status.WARN and result.observed >= 3590 and result.unit == "s"
    assert result.fix == "scraper worker"


def test_expired_leases_are_found(runtime: Runtime) -> None:
    run_selftest_jobs(runtime, completed=0, pending=2)
    assert queue.check_expired_leases(runtime).status is Status.PASS
    runtime.store.claim("dead-worker", lease_seconds=-5)
    result = queue.check_expired_leases(runtime)
    assert (result.status, result.observed, result.fix) == (Status.WARN, 1, "ops doctor --heal")


@pytest.mark.parametrize(
    ("check", "reads", "skips"),
    [
        (queue.check_expired_leases, ["lease_expires_at"], ["worker_heartbeats", "min("]),
        (queue.check_oldest_pending, ["min("], ["worker_heartbeats", "lease_expires_at"]),
        (workers.check, ["worker_heartbeats"], ["lease_expires_at", "min("]),
    ],
)
def test_each_queue_check_reads_only_what_it_judges(
    runtime: Runtime, check: Callable[[Runtime], Any], reads: list[str], skips: list[str]
) -> None:
    """`ops doctor` runs these three together: none pays for the others' reads."""
    run_selftest_jobs(runtime, completed=0, pending=2)
    with sent_statements(runtime.engine) as sent:
        check(runtime)
    text_sent = " ".join(sent).lower()
    assert all(part in text_sent for part in reads), sent
    assert not any(part in text_sent for part in skips), sent


@sqlite_only
def test_storage_writable_passes_and_fails_on_a_file_in_the_way(
    runtime: Runtime, tmp_path: Path
) -> None:
    assert storage.check_writable(runtime).status is Status.PASS
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    broken = Runtime(runtime.settings.with_overrides(data_dir=blocker / "data"))
    result = storage.check_writable(broken)
    assert result.status is Status.FAIL and "data directory" in result.output


Usage = namedtuple("Usage", "total used free")


@sqlite_only
@pytest.mark.parametrize(
    ("free", "status"),
    [(50 * 1024**3, Status.PASS), (500 * 1024**2, Status.WARN), (10 * 1024**2, Status.FAIL)],
)
def test_free_space_thresholds(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, free: int, status: Status
) -> None:
    monkeypatch.setattr(storage.shutil, "disk_usage", lambda path: Usage(10**12, 0, free))
    result = storage.check_free_space(runtime)
    assert (result.status, result.observed, result.unit) == (status, free, "bytes")


def test_fallback_check_fails_while_jobs_are_held(settings: Settings) -> None:
    refused = Runtime(settings)  # no tables: creation falls back
    try:
        assert fallback.check(refused).status is Status.PASS
        run_selftest_jobs(refused, completed=0, pending=2)
        result = fallback.check(refused)
        assert (result.status, result.observed, result.fix) == (Status.FAIL, 2, "ops reconcile")
        assert len(result.evidence["job_ids"]) == 2
    finally:
        refused.close()


def test_run_checks_selects_by_name_or_component(runtime: Runtime) -> None:
    names = [r.name for r in run_checks(runtime, ["storage", "fallback:jobs"])]
    assert names == ["storage:writable", "storage:free_space", "fallback:jobs"]
    with pytest.raises(KeyError):
        run_checks(runtime, ["nope:never"])


def _ago(seconds: float) -> str:
    from datetime import timedelta

    from scraper.models import utcnow

    return (utcnow() - timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(sep=" ")
