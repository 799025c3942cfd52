"""`/api/schedules`: owner and admin rules as for jobs; bad input is a 400 naming the field
with nothing stored; a query a job would refuse is refused here too."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers

pytestmark = sqlite_only

API = "/api/schedules"
GOOD = {
    "query": "red pandas",
    "max_content": 3,
    "safe_search": True,
    "enabled_sources": ["selftest"],
    "cron": "0 * * * *",
    "timezone": "Europe/Berlin",
}


def _create(client: FlaskClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(API, json={**GOOD, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_create_answers_201_with_id_and_next_run_and_lists_it(
    client: FlaskClient, users: WebUsers
) -> None:
    created = _create(client, users.a.headers)
    assert isinstance(created["schedule_id"], int) and created["next_run_at"].endswith("+00:00")
    assert created["next_run_at"][14:] == "00:00+00:00"  # the top of an hour
    assert (created["incremental"], created["paused"], created["timezone"]) == (
        True,
        False,
        "Europe/Berlin",
    )
    listed = client.get(API, headers=users.a.headers).get_json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [created["schedule_id"]]
    keys = {"schedule_id", "query", "cron", "timezone", "paused", "next_run_at", "last_run_at",
            "last_job_id", "last_status"}  # fmt: skip
    assert keys <= set(listed[0])
    assert (listed[0]["last_run_at"], listed[0]["last_job_id"], listed[0]["last_status"]) == (
        None,
        None,
        None,
    )


def test_timezone_defaults_to_utc_and_incremental_to_true(
    client: FlaskClient, users: WebUsers
) -> None:
    body = {k: v for k, v in GOOD.items() if k != "timezone"}
    created = client.post(API, json=body, headers=users.a.headers).get_json()
    assert (created["timezone"], created["incremental"]) == ("UTC", True)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cron": "not a cron"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * * * */5"}, "cron"),  # a seconds field: a period under a minute
        ({"cron": ""}, "cron"),
        ({"cron": 5}, "cron"),
        ({"timezone": "Nowhere/Atlantis"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"query": ""}, "query"),
        ({"max_content": 0}, "max_content"),
        ({"enabled_sources": ["nope"]}, "enabled_sources"),
        ({"enabled_sources": ["url"], "query": "not a url"}, "query"),  # refused as a job
        ({"incremental": "yes"}, "incremental"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, users: WebUsers, changes: dict[str, Any], field: str
) -> None:
    response = client.post(API, json={**GOOD, **changes}, headers=users.a.headers)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()
    assert (error["error"], error["field"]) == ("invalid_request", field)
    assert field in error["message"]
    assert client.get(API, headers=users.admin.headers).get_json()["schedules"] == []


def test_missing_cron_is_400_naming_it(client: FlaskClient, users: WebUsers) -> None:
    body = {k: v for k, v in GOOD.items() if k != "cron"}
    response = client.post(API, json=body, headers=users.a.headers)
    assert (response.status_code, response.get_json()["field"]) == (400, "cron")


def test_owner_sees_and_changes_own_schedules_admin_all_others_none(
    client: FlaskClient, users: WebUsers
) -> None:
    mine = _create(client, users.a.headers)["schedule_id"]
    theirs = _create(client, users.b.headers, query="otters")["schedule_id"]
    a, b, admin = users.a.headers, users.b.headers, users.admin.headers
    assert [s["schedule_id"] for s in client.get(API, headers=a).get_json()["schedules"]] == [mine]
    assert len(client.get(API, headers=admin).get_json()["schedules"]) == 2
    for method, suffix in (("get", ""), ("post", "/pause"), ("post", "/resume"), ("delete", "")):
        response = getattr(client, method)(f"{API}/{theirs}{suffix}", headers=a)
        assert response.status_code == 404, (method, suffix)
        assert response.get_json()["error"] == "not_found"
    assert client.get(f"{API}/{theirs}", headers=b).status_code == 200
    paused = client.post(f"{API}/{theirs}/pause", headers=admin).get_json()
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    resumed = client.post(f"{API}/{theirs}/resume", headers=b).get_json()
    assert resumed["paused"] is False and resumed["next_run_at"] is not None
    assert client.delete(f"{API}/{mine}", headers=a).get_json() == {"deleted": mine}
    assert client.get(f"{API}/{mine}", headers=a).status_code == 404
    assert client.get(f"{API}/999999999999", headers=admin).status_code == 404


def test_anonymous_is_401(client: FlaskClient) -> None:
    assert client.get(API).status_code == 401
    assert client.post(API, json=GOOD).status_code == 401


def test_one_off_job_may_opt_in_to_incremental(client: FlaskClient, users: WebUsers) -> None:
    body = {"query": "cats", "max_content": 2, "enabled_sources": ["selftest"]}
    on = client.post("/api/comprehensive-search", json=body | {"incremental": True},
                     headers=users.a.headers).get_json()  # fmt: skip
    off = client.post("/api/comprehensive-search", json=body, headers=users.a.headers).get_json()
    job = client.get(f"/api/jobs/{on['job_id']}", headers=users.a.headers).get_json()
    plain = client.get(f"/api/jobs/{off['job_id']}", headers=users.a.headers).get_json()
    assert (job["incremental"], job["schedule_id"]) == (True, None)
    assert plain["incremental"] is False


def test_schedules_page_lists_creates_and_pauses_with_csrf(
    runtime: Runtime, csrf_app: Flask, users: WebUsers
) -> None:
    from tests.plugins.web import signed_in

    browser = signed_in(csrf_app, users.a)
    page = browser.get("/schedules")
    assert page.status_code == 200 and b'id="schedule-form"' in page.data
    form = {"query": "kites", "cron": "@daily", "timezone": "UTC", "max_content": "2",
            "enabled_sources": "selftest", "incremental": "1"}  # fmt: skip
    assert browser.post("/schedules", data=form).status_code == 400  # no CSRF token
    token = _csrf(page.data)
    created = browser.post("/schedules", data=form | {"csrf_token": token})
    assert created.status_code == 302
    listed = browser.get("/schedules").data.decode()
    assert "kites" in listed and "@daily" in listed
    bad = browser.post("/schedules", data=form | {"csrf_token": token, "cron": "nope"})
    assert bad.status_code == 400 and 'id="cron-error"' in bad.data.decode()
    sid = client_ids(browser, users)[0]
    paused = browser.post(f"/schedules/{sid}/pause", data={"csrf_token": token})
    assert paused.status_code == 302
    assert "schedule-paused-badge" in browser.get("/schedules").data.decode()


def _csrf(html: bytes) -> str:
    marker = b'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index(b'"', start)].decode()


def client_ids(browser: FlaskClient, users: WebUsers) -> list[int]:
    body = browser.get(API, headers=users.a.headers).get_json()
    return [s["schedule_id"] for s in body["schedules"]]


def test_a_schedule_whose_last_jobs_failed_alike_shows_a_badge(
    runtime: Runtime, app: Flask, users: WebUsers
) -> None:
    import uuid

    from scraper.models import ScrapeJob
    from tests.plugins.web import signed_in

    browser = signed_in(app, users.a)
    sid = _create(browser, users.a.headers)["schedule_id"]
    with runtime.Session() as s, s.begin():
        for _ in range(3):
            s.add(ScrapeJob(id=str(uuid.uuid4()), user_id=users.a.id, query="red pandas",
                            max_content=1, enabled_sources=["openverse"], status="failed",
                            error="SourceError: openverse: HTTP 503", schedule_id=sid))  # fmt: skip
    page = browser.get("/schedules").data.decode()
    assert "schedule-failing" in page and "SourceError: openverse: HTTP 503" in page
    failing = browser.get(f"{API}/{sid}", headers=users.a.headers).get_json()["failing"]
    assert failing == {"jobs": 3, "error": "SourceError: openverse: HTTP 503"}
