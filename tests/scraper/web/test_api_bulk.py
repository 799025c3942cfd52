"""`POST /api/jobs/bulk` and the jobs page's bulk form: each job under the single-job rules."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, signed_in, submit

BULK = "/api/jobs/bulk"


def test_bulk_cancel_then_retry_reports_each_job(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    mine = [submit(client, users.a, f"job {n}", 1) for n in range(3)]
    theirs = submit(client, users.b, "not yours", 1)
    body = {"action": "cancel", "job_ids": [*mine, theirs, "nope"]}
    results = client.post(BULK, json=body, headers=users.a.headers).get_json()["results"]
    assert [(r["job_id"], r["ok"], r.get("status")) for r in results[:3]] == [
        (job, True, "cancelled") for job in mine
    ]
    assert [r["ok"] for r in results[3:]] == [False, False]
    assert results[3]["error"].startswith("not_found")
    runtime.jobs.retry(mine[0])
    again = client.post(BULK, json={"action": "retry", "job_ids": mine}, headers=users.a.headers)
    results = again.get_json()["results"]
    statuses = [(r["ok"], r.get("status"), r.get("error", "")[:8]) for r in results]
    assert statuses == [(False, None, "conflict"), (True, "pending", ""), (True, "pending", "")]


@sqlite_only
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "delete", "job_ids": ["x"]}, "action"),
        ({"action": "retry", "job_ids": []}, "job_ids"),
        ({"action": "retry"}, "job_ids"),
        ({"action": "retry", "job_ids": "x"}, "job_ids"),
    ],
)
def test_bulk_validates_its_body(
    client: FlaskClient, users: WebUsers, body: dict[str, object], field: str
) -> None:
    response = client.post(BULK, json=body, headers=users.a.headers)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_bulk_form_acts_on_every_job_the_filter_matches(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    ids = [submit(client, users.a, q, 1) for q in ("red fox", "red deer", "blue whale")]
    browser = signed_in(app, users.a)
    form = {"action": "cancel", "scope": "filtered", "q": "red"}
    response = browser.post("/jobs/bulk", data=form)
    assert response.status_code == 302 and "q=red" in response.headers["Location"]
    statuses = [runtime.jobs.get(job).status for job in ids]
    assert statuses == ["cancelled", "cancelled", "pending"]
    ticked = browser.post("/jobs/bulk", data={"action": "retry", "job_ids": [ids[0]]})
    assert ticked.status_code == 302
    assert runtime.jobs.get(ids[0]).status == "pending"
