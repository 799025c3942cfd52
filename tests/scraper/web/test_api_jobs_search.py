"""`GET /api/jobs` search, filters and sort (SPEC), and the jobs page that uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from scraper.models import ScrapeJob, utcnow
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, signed_in, submit


def make_jobs(client: FlaskClient, users: WebUsers, runtime: Runtime) -> dict[str, str]:
    """Three jobs of A: cats (2 days old), dogs (an hour old, 50 %), cats and dogs (now)."""
    ids = {q: submit(client, users.a, q, 1) for q in ("cats", "dogs", "cats and dogs")}
    now = utcnow()
    with runtime.Session() as s, s.begin():
        for query, age, progress in (("cats", 48, 0), ("dogs", 1, 50)):
            s.execute(
                update(ScrapeJob)
                .where(ScrapeJob.id == ids[query])
                .values(created_at=now - timedelta(hours=age), progress=progress)
            )
    return ids


def listed(client: FlaskClient, users: WebUsers, query: str) -> list[str]:
    response = client.get(f"/api/jobs?{query}", headers=users.a.headers)
    assert response.status_code == 200, response.get_json()
    return [job["query"] for job in response.get_json()["jobs"]]


def test_search_filters_and_sort(client: FlaskClient, users: WebUsers, runtime: Runtime) -> None:
    make_jobs(client, users, runtime)
    since = (utcnow() - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert listed(client, users, "q=CATS") == ["cats and dogs", "cats"]
    assert listed(client, users, "source=selftest&sort=created_at") == [
        "cats", "dogs", "cats and dogs",
    ]  # fmt: skip
    assert listed(client, users, f"since={since}") == ["cats and dogs", "dogs"]
    assert listed(client, users, f"until={since}") == ["cats"]
    assert listed(client, users, "sort=progress")[-1] == "dogs"
    assert listed(client, users, "q=100%25") == []  # a LIKE wildcard is matched literally


@sqlite_only
@pytest.mark.parametrize(
    ("query", "field"),
    [("sort=size", "sort"), ("source=nowhere", "source"), ("since=yesterday", "since")],
)
def test_unknown_values_are_400_naming_the_field(
    client: FlaskClient, users: WebUsers, query: str, field: str
) -> None:
    response = client.get(f"/api/jobs?{query}", headers=users.a.headers)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_jobs_page_filters_and_says_when_a_page_or_status_does_not_exist(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    make_jobs(client, users, runtime)
    browser = signed_in(app, users.a)
    html = browser.get("/jobs?q=dogs&sort=created_at").get_data(as_text=True)
    assert html.index(">dogs<") < html.index(">cats and dogs<") and ">cats<" not in html
    past = browser.get("/jobs?page=999")
    assert past.status_code == 404 and "Page 999 is past the last page (1)" in past.text
    unknown = browser.get("/jobs?status=lost")
    assert unknown.status_code == 400 and "Unknown status &#39;lost&#39;" in unknown.text
    index = browser.get("/?page=999")
    assert index.status_code == 400 and "past the last page" in index.text
    assert "No jobs yet" not in index.text
