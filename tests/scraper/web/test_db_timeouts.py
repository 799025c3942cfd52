"""A transaction held open elsewhere costs a web request at most the timeouts, never a thread
(issue 28, item 5): lock and statement timeouts answer 503 with `Retry-After`; the service's own
sessions cannot sit idle inside a transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from scraper.db import is_lock_timeout, retry_transient
from scraper.runtime import Runtime
from tests.conftest import make_settings, servers_only
from tests.plugins.web import WebUsers, make_app, make_users, submit

postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def limited(runtime: Runtime, db_url: str, data_dir: Path) -> Iterator[Runtime]:
    """A runtime over the same tables whose sessions wait 1 s for a lock, 2 s for a statement."""
    settings = make_settings(db_url, data_dir).with_overrides(
        db_lock_timeout=1.0, web_statement_timeout=2.0, db_idle_transaction_timeout=1.0
    )
    rt = Runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def elsewhere(db_url: str) -> Iterator[Connection]:
    """A connection of another program (no limits), its transaction rolled back at the end."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        yield conn
        conn.rollback()
    engine.dispose()


def _client(rt: Runtime) -> tuple[FlaskClient, WebUsers]:
    return make_app(rt).test_client(), make_users(rt)


@servers_only
def test_a_row_lock_held_elsewhere_makes_cancel_503_with_retry_after_within_the_timeout(
    limited: Runtime, elsewhere: Connection
) -> None:
    client, users = _client(limited)
    job_id = submit(client, users.a)
    elsewhere.execute(text("SELECT id FROM scrape_jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
    started = time.monotonic()
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=users.a.headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["error"] == "database_unavailable"
    assert elapsed < 3.5, f"the request waited {elapsed:.1f} s on the lock"
    elsewhere.rollback()
    after = client.post(f"/api/jobs/{job_id}/cancel", headers=users.a.headers)
    assert after.status_code == 200 and after.get_json()["status"] == "cancelled"


@postgres_only
def test_a_table_lock_held_elsewhere_cuts_a_web_read_at_the_statement_timeout(
    runtime: Runtime, db_url: str, data_dir: Path, elsewhere: Connection
) -> None:
    settings = make_settings(db_url, data_dir).with_overrides(
        db_lock_timeout=30.0, web_statement_timeout=1.0
    )
    rt = Runtime(settings)
    try:
        client, users = _client(rt)
        submit(client, users.a)
        elsewhere.execute(text("LOCK TABLE scrape_jobs IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        response = client.get("/api/jobs", headers=users.a.headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert "statement timeout" in response.get_json()["message"]
        assert elapsed < 5, f"the read waited {elapsed:.1f} s"
        elsewhere.rollback()
        with rt.Session() as s:  # outside a web request: no statement timeout
            assert s.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        rt.close()


@postgres_only
def test_the_service_sessions_are_ended_when_idle_inside_a_transaction(limited: Runtime) -> None:
    with limited.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        time.sleep(1.6)
        with pytest.raises(DBAPIError):
            conn.execute(text("SELECT 1"))


@pytest.mark.slow  # about 3 s: a lock timeout, then the wait for the release
@servers_only
def test_a_worker_write_waits_out_a_lock_held_past_the_lock_timeout(
    limited: Runtime, elsewhere: Connection
) -> None:
    client, users = _client(limited)
    job_id = submit(client, users.a)
    elsewhere.execute(text("SELECT id FROM scrape_jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
    with pytest.raises(DBAPIError) as refused:
        _touch(limited, job_id)
    assert is_lock_timeout(refused.value)
    release = threading.Timer(1.5, elsewhere.rollback)
    release.start()
    started = time.monotonic()
    try:
        assert retry_transient(lambda: _touch(limited, job_id), "a test write", budget=10) == 1
        assert time.monotonic() - started >= 1.0
    finally:
        release.join()  # the connection is not shared between threads at teardown


def _touch(rt: Runtime, job_id: str) -> int:
    with rt.engine.begin() as conn:
        result = conn.execute(
            text("UPDATE scrape_jobs SET message = 'touched' WHERE id = :id"), {"id": job_id}
        )
        return result.rowcount


@postgres_only
def test_the_limits_keep_the_options_the_url_gives(
    runtime: Runtime, db_url: str, data_dir: Path
) -> None:
    url = make_url(db_url).update_query_dict({"options": "-c application_name=from_the_url"})
    settings = make_settings(url.render_as_string(hide_password=False), data_dir)
    rt = Runtime(settings.with_overrides(db_lock_timeout=1.5))
    try:
        with rt.engine.connect() as conn:
            assert conn.execute(text("SHOW application_name")).scalar() == "from_the_url"
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "1500ms"
    finally:
        rt.close()
