"""Issue 15's original symptom: no read ever says "no jobs" or "not found" for a database that
could not answer, and a drifted schema hides no job already in the database."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from scraper.db import make_engine, make_sessionmaker
from scraper.jobs import JobRecord
from scraper.models import utcnow
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, signed_in, submit

pytestmark = sqlite_only
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
HELD = "7f000000-0000-4000-8000-0000000000cc"


def hold(runtime: Runtime, user_id: int) -> None:
    """A job the database refused, journaled in the fallback store."""
    now = utcnow()
    record = JobRecord(
        id=HELD, query="held job", max_content=1, safe_search=True,
        enabled_sources=["selftest"], user_id=user_id, created_at=now, updated_at=now,
    )  # fmt: skip
    runtime.fallback.put(record, reason="database refused")


def cut_database(runtime: Runtime) -> None:
    """Point the running app at a database server that refuses connections (an outage)."""
    engine = make_engine(UNREACHABLE, connect_args={"connect_timeout": 2})
    runtime.__dict__["engine"] = engine
    runtime.__dict__["Session"] = make_sessionmaker(engine)
    for cached in ("store", "jobs"):
        runtime.__dict__.pop(cached, None)


def test_an_outage_answers_503_with_the_fallback_jobs_never_an_empty_list(
    app: Flask, runtime: Runtime, users: WebUsers
) -> None:
    client = app.test_client()
    job_id = submit(client, users.a, "in the database", 1)
    hold(runtime, users.a.id)
    assert client.get("/api/jobs", headers=users.a.headers).get_json()["total"] == 2
    cut_database(runtime)

    listing = client.get("/api/jobs", headers=users.a.headers)  # the token is remembered
    assert listing.status_code == 503
    body = listing.get_json()
    assert body["error"] == "database_unavailable" and "ops doctor" in body["message"]
    assert [j["job_id"] for j in body["jobs"]] == [HELD]
    progress = client.get(f"/api/job-progress/{job_id}", headers=users.a.headers)
    assert progress.status_code == 503
    assert progress.get_json()["error"] == "database_unavailable"
    assert client.get(f"/api/job-progress/{HELD}", headers=users.a.headers).status_code == 200
    dashboard = client.get("/api/dashboard", headers=users.a.headers)
    assert dashboard.status_code == 503
    assert dashboard.get_json()["error"] == "database_unavailable"


@pytest.mark.parametrize("path", ["/", "/jobs", "/jobs/{job}", "/workers"])
def test_pages_of_a_signed_in_user_say_the_database_is_unavailable(
    app: Flask, runtime: Runtime, users: WebUsers, path: str
) -> None:
    browser = signed_in(app, users.admin)
    job_id = submit(app.test_client(), users.admin, "mine", 1)
    cut_database(runtime)
    page = browser.get(path.format(job=job_id))
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "Database unavailable" in html and "ops doctor" in html


def test_a_missing_column_hides_no_database_job(
    app: Flask, runtime: Runtime, users: WebUsers
) -> None:
    client = app.test_client()
    ids = [submit(client, users.a, f"before drift {n}", 1) for n in range(3)]
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    created = client.post(
        "/api/comprehensive-search",
        json={"query": "after drift", "max_content": 1, "enabled_sources": ["selftest"]},
        headers=users.a.headers,
    ).get_json()
    assert created["storage"] == "fallback"

    listing = client.get("/api/jobs", headers=users.a.headers).get_json()
    assert listing["total"] == 4
    storages = {j["job_id"]: j["storage"] for j in listing["jobs"]}
    assert storages == {**dict.fromkeys(ids, "database"), created["job_id"]: "fallback"}
    assert listing["missing_columns"] == ["updated_at"]
    progress = client.get(f"/api/job-progress/{ids[0]}", headers=users.a.headers)
    assert progress.status_code == 200 and progress.get_json()["storage"] == "database"
    html = signed_in(app, users.a).get("/").get_data(as_text=True)
    assert all(job in html for job in ids) and created["job_id"] in html
    assert "lacks column(s) updated_at" in html


def test_a_refusal_is_not_called_an_outage(app: Flask, runtime: Runtime, users: WebUsers) -> None:
    """The database answered, with a refusal: the 503 says so, and an outage says it could
    not answer."""
    client = app.test_client()
    job = submit(client, users.a, "refused", 1)
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE assets"))
    refused = client.get(f"/api/assets?job_id={job}", headers=users.a.headers)
    body = refused.get_json()
    assert refused.status_code == 503 and body["error"] == "database_unavailable", body
    assert (
        body["message"].startswith("the database refused the request (")
        and "assets" in body["message"]
    ), body
    cut_database(runtime)
    down = client.get(f"/api/assets?job_id={job}", headers=users.a.headers).get_json()
    assert down["message"].startswith("the database could not answer ("), down
