"""Who may call what, generated from `app.url_map`: a new endpoint cannot ship unprotected.

Every rule and method (but HEAD and OPTIONS) is either public by design (PUBLIC, with why) or a
row of MATRIX, which says what the owner (user A) and another user (B) get; an admin gets what
the owner gets, and an anonymous caller gets 401 on the API and the login redirect on pages.
An endpoint in neither makes `test_every_endpoint_is_public_or_in_the_matrix` fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from scraper.accounts import create_token
from scraper.models import ApiToken
from scraper.runtime import Runtime
from scraper.web import create_app
from tests.conftest import sqlite_only
from tests.plugins.web import Finished, WebUser, WebUsers, signed_in, submit

pytestmark = sqlite_only

Endpoint = tuple[str, str]  # (method, rule)

PUBLIC: dict[Endpoint, str] = {
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in (throttled, CSRF-checked)",
    ("POST", "/logout"): "ends whatever session there is; CSRF-checked, grants nothing",
    ("GET", "/healthz"): "liveness probe, per the contract",
    ("GET", "/readyz"): "readiness probe, per the contract",
    ("GET", "/metrics"): "open unless SCRAPER_METRICS_TOKEN is set (tested below)",
    ("GET", "/api/openapi.json"): "the API description",
    ("GET", "/api/docs"): "the API description rendered for people",
    ("GET", "/static/<path:filename>"): "stylesheet and script",
}


@dataclass(frozen=True)
class Row:
    """One endpoint: the URL (with {job} / {asset}), what it targets, who gets which status.

    `target` is whose resource the URL names: "job" (a pending job of A), "cancelled" (a
    cancelled job of A), "asset" (an asset of A's finished job), "token" (an API token of A,
    and A's user id) or "none". `listed` means the
    answer must show A's resource to A and the admin, and never to B.
    """

    path: str
    target: str
    owner: int
    other: int
    listed: bool = False
    body: dict[str, Any] = field(default_factory=dict)
    admin: int | None = None  # what the admin gets when it differs from the owner (admin-only)

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


MATRIX: dict[Endpoint, Row] = {
    ("POST", "/api/comprehensive-search"): Row("/api/comprehensive-search", "none",
                                               201, 201, body={"enabled_sources": ["selftest"],
                                                               "query": "matrix"}),
    ("GET", "/api/jobs"): Row("/api/jobs", "job", 200, 200, listed=True),
    ("GET", "/api/job-progress/<job_id>"): Row("/api/job-progress/{job}", "job", 200, 404),
    ("GET", "/api/jobs/<job_id>"): Row("/api/jobs/{job}", "job", 200, 404),
    ("POST", "/api/jobs/<job_id>/cancel"): Row("/api/jobs/{job}/cancel", "job", 200, 404),
    ("POST", "/api/jobs/<job_id>/retry"): Row("/api/jobs/{job}/retry", "cancelled", 200, 404),
    ("GET", "/api/assets"): Row("/api/assets", "asset", 200, 200, listed=True),
    ("GET", "/api/assets/<int:asset_id>"): Row("/api/assets/{asset}", "asset", 200, 404),
    ("GET", "/api/assets/<int:asset_id>/file"): Row("/api/assets/{asset}/file", "asset", 200, 404),
    ("GET", "/api/sources"): Row("/api/sources", "none", 200, 200),
    ("GET", "/api/dashboard"): Row("/api/dashboard", "job", 200, 200, listed=True),
    # B's answer is 200 with ok=false "not_found" per job (tests/web/test_api_bulk.py).
    ("POST", "/api/jobs/bulk"): Row("/api/jobs/bulk", "job", 200, 200,
                                    body={"action": "cancel", "job_ids": ["{job}"]}),
    ("GET", "/api/workers"): Row("/api/workers", "none", 403, 403, admin=200),
    ("GET", "/api/stats"): Row("/api/stats", "none", 200, 200),
    ("GET", "/jobs"): Row("/jobs", "job", 200, 200, listed=True),
    ("POST", "/jobs/bulk"): Row("/jobs/bulk", "job", 302, 302,
                                body={"action": "cancel", "job_ids": "{job}"}),
    ("GET", "/workers"): Row("/workers", "none", 403, 403, admin=200),
    ("GET", "/"): Row("/", "job", 200, 200, listed=True),
    ("POST", "/search"): Row("/search", "none", 302, 302,
                             body={"query": "form", "max_content": "1",
                                   "enabled_sources": "selftest"}),
    ("GET", "/jobs/<job_id>"): Row("/jobs/{job}", "job", 200, 404),
    ("POST", "/jobs/<job_id>/<action>"): Row("/jobs/{job}/cancel", "job", 302, 404),
    ("POST", "/api/schedules"): Row("/api/schedules", "none", 201, 201,
                                    body={"query": "matrix", "cron": "@hourly",
                                          "enabled_sources": ["selftest"]}),
    ("GET", "/api/schedules"): Row("/api/schedules", "schedule", 200, 200, listed=True),
    ("GET", "/api/schedules/<int:schedule_id>"): Row("/api/schedules/{schedule}", "schedule",
                                                     200, 404),
    ("DELETE", "/api/schedules/<int:schedule_id>"): Row("/api/schedules/{schedule}", "schedule",
                                                        200, 404),
    ("POST", "/api/schedules/<int:schedule_id>/pause"): Row("/api/schedules/{schedule}/pause",
                                                            "schedule", 200, 404),
    ("POST", "/api/schedules/<int:schedule_id>/resume"): Row("/api/schedules/{schedule}/resume",
                                                             "schedule", 200, 404),
    ("GET", "/schedules"): Row("/schedules", "schedule", 200, 200, listed=True),
    ("POST", "/schedules"): Row("/schedules", "none", 302, 302,
                                body={"query": "form", "cron": "@daily", "max_content": "1",
                                      "enabled_sources": "selftest"}),
    ("POST", "/schedules/<int:schedule_id>/<action>"): Row("/schedules/{schedule}/pause",
                                                           "schedule", 302, 404),
    ("DELETE", "/api/jobs/<job_id>"): Row("/api/jobs/{job}", "cancelled", 200, 404),
    ("GET", "/api/jobs/<job_id>/archive"): Row("/api/jobs/{job}/archive", "asset", 200, 404),
    ("POST", "/jobs/<job_id>/delete"): Row("/jobs/{job}/delete", "cancelled", 302, 404),
    ("GET", "/api/job-counts"): Row("/api/job-counts", "none", 200, 200),
    ("GET", "/users"): Row("/users", "none", 403, 403, admin=200),
    ("POST", "/users"): Row("/users", "none", 403, 403, admin=200,
                            body={"username": "matrix", "password": "long enough"}),
    ("POST", "/users/<int:user_id>/<action>"): Row("/users/{user}/enable", "token", 403, 403,
                                                   admin=302),
    ("GET", "/tokens"): Row("/tokens", "token", 200, 200, listed=True),
    ("POST", "/tokens"): Row("/tokens", "none", 200, 200, body={"name": "matrix"}),
    ("POST", "/tokens/<int:token_id>/revoke"): Row("/tokens/{token}/revoke", "token", 302, 404),
}  # fmt: skip


def endpoints(app: Flask) -> set[Endpoint]:
    """Every (method, rule) the app routes, HEAD and OPTIONS left out (Flask adds them)."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_endpoint_is_public_or_in_the_matrix(app: Flask) -> None:
    routed = endpoints(app)
    uncovered = routed - set(PUBLIC) - set(MATRIX)
    assert not uncovered, f"endpoints with no access rule in this test: {sorted(uncovered)}"
    assert not set(PUBLIC) & set(MATRIX)
    assert set(PUBLIC) | set(MATRIX) <= routed, "rows for endpoints that no longer exist"


@dataclass
class Caller:
    """Sends a row's request as one user (bearer token on the API, a session on pages)."""

    app: Flask
    user: WebUser | None
    values: dict[str, Any] = field(default_factory=dict)

    def send(self, method: str, row: Row, url: str) -> TestResponse:
        client = self.app.test_client() if self.user is None else signed_in(self.app, self.user)
        body = fill(row.body, self.values)
        if row.api:
            headers = self.user.headers if self.user else {}
            return client.open(url, method=method, json=body or None, headers=headers)
        return client.open(url, method=method, data=body or None)


def fill(body: Any, values: dict[str, Any]) -> Any:
    """The row's body with `{job}` and `{asset}` replaced by this request's resources."""
    if isinstance(body, str):
        return body.format(**values) if "{" in body else body
    if isinstance(body, list):
        return [fill(v, values) for v in body]
    if isinstance(body, dict):
        return {k: fill(v, values) for k, v in body.items()}
    return body


def target(
    row: Row, client: FlaskClient, runtime: Runtime, users: WebUsers, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """A fresh resource of A for this request (cancelling one must not spoil the next)."""
    if row.target == "asset":
        done: Finished = request.getfixturevalue("finished")  # runs a job: only when needed
        return {"job": done.job_id, "asset": done.asset_id, "shown": done.job_id}
    if row.target == "none":
        return {}
    if row.target == "schedule":
        body = {"query": "matrix schedule", "cron": "@hourly", "enabled_sources": ["selftest"]}
        made = client.post("/api/schedules", json=body, headers=users.a.headers).get_json()
        marker = f'"schedule_id":{made["schedule_id"]},' if row.api else "matrix schedule"
        return {"schedule": made["schedule_id"], "shown": marker}
    if row.target == "token":
        create_token(runtime.Session, users.a.name, "matrix token")
        with runtime.Session() as s:
            token = s.scalars(select(ApiToken.id).order_by(ApiToken.id.desc())).first()
        return {"token": token, "user": users.a.id, "shown": f'data-token-id="{token}"'}
    job = submit(client, users.a, "matrix target", 1)
    if row.target == "cancelled":
        runtime.jobs.cancel(job)
    return {"job": job, "shown": job}


@pytest.mark.parametrize("endpoint", list(MATRIX), ids=" ".join)
@pytest.mark.parametrize("who", ["anonymous", "a", "b", "admin"])
def test_each_caller_gets_what_the_matrix_says(
    app: Flask,
    client: FlaskClient,
    runtime: Runtime,
    users: WebUsers,
    request: pytest.FixtureRequest,
    endpoint: Endpoint,
    who: str,
) -> None:
    row = MATRIX[endpoint]
    values = target(row, client, runtime, users, request)
    url = row.path.format(**values)
    caller = Caller(app, None if who == "anonymous" else users[who], values)
    response = caller.send(endpoint[0], row, url)
    if who == "anonymous":
        if row.api:
            assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
        else:
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/login?next=")
        return
    expected = row.other if who == "b" else row.owner
    if who == "admin" and row.admin is not None:
        expected = row.admin
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if row.listed:
        assert (values["shown"] in response.get_data(as_text=True)) is (who != "b")


@pytest.mark.parametrize("endpoint", sorted(PUBLIC))
def test_public_endpoints_answer_without_signing_in(app: Flask, endpoint: Endpoint) -> None:
    method, rule = endpoint
    path = rule.replace("<path:filename>", "style.css")
    response = app.test_client().open(path, method=method, data={"username": "x"})
    assert response.status_code in {200, 302, 401, 503}
    assert not response.headers.get("Location", "").startswith("/login?next=")
    if path != "/login":  # a wrong password there is a 401 by design
        assert response.status_code != 401


def test_metrics_need_the_token_once_it_is_set(runtime: Runtime) -> None:
    settings = runtime.settings.with_overrides(metrics_token="metrics-secret")
    app = create_app({"SCRAPER_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
    assert right.status_code == 200 and b"scraper_" in right.data
