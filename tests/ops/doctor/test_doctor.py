"""`ops doctor`: the seven diagnoses of the issue, each with its root cause, fix, heal, re-check.

Every scenario runs on SQLite and PostgreSQL through the real `ops` click command.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ops.cli import main
from scraper.config import Settings
from scraper.jobs import JobRecord, NewJob
from scraper.migrations.manage import init_db
from scraper.models import utcnow
from scraper.runtime import Runtime
from scraper.worker import Worker
from scraper.worker.heartbeats import beat
from tests.conftest import fresh_database
from tests.ops.conftest import hold_job

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class Doctor:
    """Runs `ops doctor` against one database and data dir; sets the database up."""

    url: str
    runtime: Runtime

    def run(self, *args: str, url: str | None = None) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(
            main, ["doctor", "--json", "--database-url", url or self.url, *args]
        )
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, json.loads(result.stdout)

    def cause(self, *args: str) -> dict[str, Any]:
        code, report = self.run(*args)
        assert code == 1 and report["status"] == "fail", report
        cause: dict[str, Any] = report["root_cause"]
        return cause

    def assert_clean(self) -> None:
        code, report = self.run()
        assert code == 0, report["root_cause"]
        assert report["root_cause"] is None

    def sql(self, statement: str, **params: Any) -> Any:
        with self.runtime.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.scalar() if result.returns_rows else None


@pytest.fixture(params=DIALECTS)
def doctor(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Doctor]:
    """An empty database of each dialect and an existing data dir, named by the environment."""
    with fresh_database(request.param, tmp_path) as url:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        monkeypatch.setenv("SCRAPER_DATA_DIR", str(data_dir))
        monkeypatch.setenv("SCRAPER_SECRET_KEY", "doctor-test-secret")
        runtime = Runtime(Settings.from_env(database_url=url))
        if url.startswith("sqlite"):  # an empty database, like the servers' fresh one
            sqlite3.connect(url.removeprefix("sqlite:///")).close()
        yield Doctor(url, runtime)
        runtime.close()


def live_worker(runtime: Runtime) -> None:
    """A fresh heartbeat: a worker is alive somewhere."""
    beat(runtime.Session, "live-worker", 0, 0)


def held_job(runtime: Runtime) -> JobRecord:
    """A job the database refused earlier, waiting in the fallback store."""
    return hold_job(runtime, "7f000000-0000-4000-8000-000000000007", "no such table: scrape_jobs")


def test_empty_database_is_diagnosed_as_never_initialized(doctor: Doctor) -> None:
    cause = doctor.cause()
    assert cause["check"] == "schema:in_sync"
    assert cause["fix"] == "ops init-db"
    assert "never initialized" in cause["summary"]

    code, report = doctor.run("--heal")
    assert code == 0, report
    assert [a["action"] for a in report["heal"]["actions"]] == ["init-db"]
    doctor.assert_clean()


@pytest.mark.slow
def test_missing_column_with_jobs_in_fallback_needs_ops_migrate(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    doctor.sql("ALTER TABLE scrape_jobs DROP COLUMN updated_at")
    job = doctor.runtime.jobs.create(NewJob(query="seed", max_content=1))
    assert job.storage == "fallback"

    cause = doctor.cause()
    assert cause["check"] == "schema:in_sync"
    assert cause["fix"] == "ops migrate"
    assert "scrape_jobs has no column updated_at" in cause["summary"]
    assert "1 job(s) pile up in the fallback store" in cause["summary"]
    assert any("updated_at" in reason for reason in cause["evidence"]["database_refused_with"])

    live_worker(doctor.runtime)
    code, report = doctor.run("--heal")
    assert code == 0, report
    assert {a["action"] for a in report["heal"]["actions"]} == {"migrate", "reconcile"}
    assert doctor.sql("SELECT count(*) FROM scrape_jobs WHERE id = :id", id=job.id) == 1
    assert len(doctor.runtime.fallback) == 0
    doctor.assert_clean()


def test_unreachable_database_is_the_root_cause(doctor: Doctor, tmp_path: Path) -> None:
    init_db(doctor.runtime.engine)
    if doctor.url.startswith("sqlite"):
        garbage = tmp_path / "not-a-database.db"
        garbage.write_bytes(b"this is not sqlite" * 100)
        wrong = f"sqlite:///{garbage}"
    else:
        wrong = doctor.runtime.engine.url.set(port=1).render_as_string(hide_password=False)

    code, report = doctor.run(url=wrong)
    assert code == 1
    assert report["root_cause"]["check"] == "database:connection"
    assert "SCRAPER_DATABASE_URL" in report["root_cause"]["fix"]
    assert len([c for c in report["checks"] if c["status"] == "fail"]) >= 1

    code, healed = doctor.run("--heal", url=wrong)
    assert code == 1 and healed["heal"]["actions"] == []
    doctor.assert_clean()  # the right URL


def test_no_worker_with_ageing_queue_says_start_a_worker(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    old = utcnow() - timedelta(minutes=20)
    record = JobRecord(
        id="7f000000-0000-4000-8000-000000000004",
        query="waiting",
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        created_at=old,
        updated_at=old,
    )
    doctor.runtime.store.insert(record)

    cause = doctor.cause()
    assert cause["check"] in ("worker:heartbeat", "queue:oldest_pending_age")
    assert cause["fix"] == "scraper worker"
    assert "No worker is running" in cause["evidence"]["heartbeat"]

    code, _ = doctor.run("--heal")
    assert code == 1  # starting a worker is not the doctor's to do
    assert Worker(doctor.runtime).run_once()
    doctor.assert_clean()


def test_running_jobs_with_expired_lease_are_requeued_by_heal(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    now = utcnow()
    record = JobRecord(
        id="7f000000-0000-4000-8000-000000000005",
        query="stuck",
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        status="running",
        attempts=1,
        locked_by="dead-worker:1234",
        lease_expires_at=now - timedelta(minutes=5),
        created_at=now - timedelta(minutes=6),
        updated_at=now - timedelta(minutes=6),
    )
    doctor.runtime.store.insert(record)
    live_worker(doctor.runtime)

    cause = doctor.cause()
    assert cause["check"] == "jobs:expired_leases"
    assert cause["fix"] == "ops doctor --heal"
    assert "dead-worker:1234" in cause["summary"]

    code, report = doctor.run("--heal")
    assert code == 0, report
    assert [a["action"] for a in report["heal"]["actions"]] == ["requeue"]
    assert doctor.sql("SELECT status FROM scrape_jobs WHERE id = :id", id=record.id) == "pending"
    doctor.assert_clean()


def test_missing_data_dir_is_created_by_heal(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    data_dir = doctor.runtime.settings.data_dir
    data_dir.rmdir()

    code, report = doctor.run()  # the service creates it at start: only a warning (issue 12)
    assert code == 0 and report["status"] == "warn", report
    cause = report["root_cause"]
    assert cause["check"] == "config:data_dir"
    assert cause["fix"] == f"mkdir -p {data_dir}"
    assert cause["heal"] == "mkdir"
    assert not data_dir.exists()  # diagnosing changes nothing

    code, report = doctor.run("--heal")
    assert code == 0, report
    assert [a["action"] for a in report["heal"]["actions"]] == ["mkdir"]
    assert data_dir.is_dir()
    doctor.assert_clean()


def test_data_dir_that_is_not_writable_is_named_and_left_alone(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    data_dir = doctor.runtime.settings.data_dir
    data_dir.rmdir()
    data_dir.write_text("a file where the data directory should be")

    cause = doctor.cause()
    assert cause["check"] == "config:data_dir"
    assert str(data_dir) in cause["fix"]
    code, report = doctor.run("--heal")
    assert code == 1 and report["heal"]["actions"] == []
    assert data_dir.is_file()  # never deleted

    data_dir.unlink()
    data_dir.mkdir()
    doctor.assert_clean()


def test_fallback_jobs_waiting_on_a_healthy_database_need_reconcile(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    job = held_job(doctor.runtime)
    live_worker(doctor.runtime)

    cause = doctor.cause()
    assert cause["check"] == "fallback:jobs"
    assert cause["fix"] == "ops reconcile"
    assert job.id in cause["evidence"]["job_ids"]

    code, report = doctor.run("--heal")
    assert code == 0, report
    assert [a["action"] for a in report["heal"]["actions"]] == ["reconcile"]
    assert doctor.sql("SELECT count(*) FROM scrape_jobs WHERE id = :id", id=job.id) == 1
    doctor.assert_clean()


def test_healthy_database_exits_0_with_no_root_cause(doctor: Doctor) -> None:
    init_db(doctor.runtime.engine)
    doctor.assert_clean()


def test_text_report_names_root_cause_evidence_and_fix(doctor: Doctor) -> None:
    result = CliRunner().invoke(main, ["doctor", "--database-url", doctor.url])
    assert result.exit_code == 1
    assert "Root cause [schema:in_sync]" in result.stdout
    assert "Evidence:" in result.stdout
    assert "Fix: ops init-db" in result.stdout


def test_bad_arguments_exit_2(doctor: Doctor) -> None:
    assert CliRunner().invoke(main, ["doctor", "--no-such-flag"]).exit_code == 2


def test_invalid_setting_is_a_configuration_diagnosis(
    doctor: Doctor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_AUTO_HEAL", "sometimes")
    cause = doctor.cause()
    assert cause["check"] == "config:settings"
    assert "SCRAPER_AUTO_HEAL" in cause["summary"]
