"""Self-healing while running, readiness of a fresh install, and the one HealthMonitor.

A column the models write is dropped under a running `scraper serve`; with
SCRAPER_AUTO_HEAL=safe the column is back within one reconcile interval and the held job
runs exactly once; with `off` nothing changes by itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from healthchecks import monitor as monitor_module
from healthchecks.monitor import HealthMonitor, monitor_for
from ops.smoke import free_port, running_server, server_env
from scraper.accounts import create_token, create_user
from scraper.app.selfheal import SelfHealer
from scraper.config import Settings
from scraper.migrations.manage import init_db
from scraper.runtime import Runtime
from tests.conftest import DIALECTS, fresh_database

INTERVAL = 3.0
ITEMS = 2


def _poll(predicate: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until `predicate` holds; AssertionError naming `what` after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def _sql(url: str, statement: str, **params: Any) -> Any:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def _column_back(url: str, column: str = "updated_at") -> bool:
    try:
        _sql(url, f"SELECT count({column}) FROM scrape_jobs")
    except Exception:
        return False
    return True


def _prepare(url: str, data_dir: Path) -> str:
    runtime = Runtime(Settings(database_url=url, data_dir=data_dir))
    init_db(runtime.engine)
    create_user(runtime.Session, "admin", "self-heal-password", admin=True)
    token = create_token(runtime.Session, "admin", "self-heal test")
    runtime.close()
    return token


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "column",
    [
        "updated_at",
        # Written by the worker's progress and completion, not by the API's insert: the
        # probe used to leave it out, so nothing healed (issue 29).
        "result",
    ],
)
def test_column_dropped_under_a_running_server_is_back_and_held_job_runs_once(
    dialect: str, column: str, tmp_path: Path
) -> None:
    with fresh_database(dialect, tmp_path) as url:
        data_dir = tmp_path / "data"
        token = _prepare(url, data_dir)
        env = server_env(
            url, data_dir, SCRAPER_AUTO_HEAL="safe", SCRAPER_RECONCILE_INTERVAL=str(INTERVAL)
        )
        with running_server(env, free_port(), tmp_path / "server.log") as base:
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"
            _sql(url, f"ALTER TABLE scrape_jobs DROP COLUMN {column}")
            dropped = time.monotonic()
            body = {"query": "self-heal", "max_content": ITEMS, "enabled_sources": ["selftest"]}
            created = api.post(f"{base}/api/comprehensive-search", json=body, timeout=10).json()
            assert created["storage"] == "fallback", created
            assert column in created["refusal"]
            _poll(
                lambda: _column_back(url, column), INTERVAL + 10, "the dropped column to come back"
            )
            healed_after = time.monotonic() - dropped
            job = created["job_id"]
            _poll(
                lambda: (
                    api.get(f"{base}/api/jobs/{job}", timeout=10).json().get("status")
                    == "completed"
                ),
                60,
                "the held job to complete",
            )
            assert _sql(url, "SELECT count(*) FROM scrape_jobs WHERE id = :id", id=job) == 1
            assert _sql(url, "SELECT attempts FROM scrape_jobs WHERE id = :id", id=job) == 1
            assert _sql(url, "SELECT count(*) FROM assets WHERE job_id = :id", id=job) == ITEMS
            metrics = api.get(f"{base}/metrics", timeout=10).text
            assert _counter(metrics, "migrate") >= 1 and _counter(metrics, "reconcile") >= 1
            panel = api.get(f"{base}/api/dashboard", timeout=10).json()["health"]
            assert any(item["name"] == "self_heal:migrate" for item in panel), panel
        log = (tmp_path / "server.log").read_text()
        assert "self-heal migrate" in log
        # one reconcile interval (plus the probe and the repair themselves)
        assert healed_after < INTERVAL + 5, healed_after


def _counter(metrics: str, action: str) -> float:
    found = re.search(rf'^scraper_self_heal_total\{{action="{action}"\}}\s+(\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_auto_heal_off_keeps_the_column_missing(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        data_dir = tmp_path / "data"
        _prepare(url, data_dir)
        env = server_env(
            url, data_dir, SCRAPER_AUTO_HEAL="off", SCRAPER_RECONCILE_INTERVAL=str(INTERVAL / 3)
        )
        with running_server(env, free_port(), tmp_path / "server.log") as base:
            _sql(url, "ALTER TABLE scrape_jobs DROP COLUMN updated_at")
            ready = requests.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database:writes"][0]["status"] == "fail"
            time.sleep(INTERVAL)  # three reconcile intervals: nothing may change by itself
            assert not _column_back(url)
        assert "self-heal" not in (tmp_path / "server.log").read_text()


@pytest.mark.slow
def test_fresh_install_with_a_new_data_dir_is_ready(tmp_path: Path) -> None:
    data_dir = tmp_path / "srv" / "data"
    url = f"sqlite:///{data_dir / 'scraper.db'}"
    env = server_env(url, data_dir)
    with running_server(env, free_port(), tmp_path / "server.log") as base:
        assert data_dir.is_dir()
        _poll(
            lambda: requests.get(f"{base}/readyz", timeout=10).status_code == 200,
            30,
            "/readyz to answer 200",
        )


def test_monitor_evaluates_at_most_once_per_ttl(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = monitor_module.run_checks

    def counted(rt: Runtime) -> Any:
        calls.append(1)
        return real(rt)

    monkeypatch.setattr(monitor_module, "run_checks", counted)
    now = [100.0]
    monitor = HealthMonitor(runtime, ttl=5.0, clock=lambda: now[0])
    first = monitor.results()
    monitor.results(["database:connection"])
    now[0] += 4.9
    monitor.results()
    assert len(calls) == 1
    now[0] += 0.2
    assert [r.name for r in monitor.results()] == [r.name for r in first]
    assert len(calls) == 2
    monitor.results(max_age=0)  # the doctor asks for fresh results
    assert len(calls) == 3
    assert monitor_for(runtime) is monitor_for(runtime)


@pytest.mark.postgres
def test_a_repair_blocked_by_violating_rows_is_a_failed_heal_event(tmp_path: Path) -> None:
    """A job whose user is gone blocks re-adding the foreign key: the healer adds the dropped
    column, then records the refusal as a heal event with ok false (not only a log line)."""
    with fresh_database("postgresql", tmp_path, "initialized") as url:
        _sql(url, "ALTER TABLE scrape_jobs DROP CONSTRAINT fk_scrape_jobs_user_id_users")
        _sql(
            url,
            "INSERT INTO scrape_jobs (id, query, max_content, enabled_sources, created_at,"
            " updated_at, user_id) VALUES ('orphan', 'q', 5, '[]', now(), now(), 987654)",
        )
        _sql(url, "ALTER TABLE scrape_jobs DROP COLUMN updated_at")
        runtime = Runtime(Settings(database_url=url, data_dir=tmp_path / "data"))
        try:
            [event] = SelfHealer(runtime).heal_once()
            assert list(monitor_for(runtime).heals) == [event]
        finally:
            runtime.close()
    assert (event.action, event.ok) == ("migrate", False)
    assert "fk_scrape_jobs_user_id_users" in event.detail and "987654" in event.detail
