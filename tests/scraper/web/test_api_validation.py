"""Validation of `POST /api/comprehensive-search` and list queries (pure input checks: SQLite)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from tests.plugins.web import WebUsers

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SEARCH = "/api/comprehensive-search"
GOOD = {"query": "cats", "max_content": 3, "safe_search": True, "enabled_sources": ["selftest"]}


def _count_jobs(client: FlaskClient, users: WebUsers) -> int:
    body = client.get("/api/jobs", headers=users.admin.headers).get_json()
    total: int = body["total"]
    return total


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "query": ""}, "query"),
        ({**GOOD, "query": "   "}, "query"),
        ({**GOOD, "query": "x" * 501}, "query"),
        ({**GOOD, "query": 42}, "query"),
        ({k: v for k, v in GOOD.items() if k != "query"}, "query"),
        ({**GOOD, "max_content": 0}, "max_content"),
        ({**GOOD, "max_content": -3}, "max_content"),
        ({**GOOD, "max_content": 501}, "max_content"),
        ({**GOOD, "max_content": "5"}, "max_content"),
        ({**GOOD, "max_content": 2.5}, "max_content"),
        ({**GOOD, "max_content": True}, "max_content"),
        ({**GOOD, "max_content": None}, "max_content"),
        ({**GOOD, "safe_search": "yes"}, "safe_search"),
        ({**GOOD, "safe_search": 1}, "safe_search"),
        ({**GOOD, "enabled_sources": []}, "enabled_sources"),
        ({**GOOD, "enabled_sources": "selftest"}, "enabled_sources"),
        ({**GOOD, "enabled_sources": ["nope"]}, "enabled_sources"),
        ({**GOOD, "enabled_sources": ["selftest", 3]}, "enabled_sources[1]"),
    ],
)
def test_invalid_search_is_400_naming_the_field_and_creates_nothing(
    client: FlaskClient, users: WebUsers, body: dict[str, Any], field: str
) -> None:
    response = client.post(SEARCH, json=body, headers=users.a.headers)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "invalid_request"
    assert error["field"] == field
    assert error["message"].startswith(field)
    assert _count_jobs(client, users) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_json"),
        ("", "application/json", 400, "invalid_json"),
        ('["a list"]', "application/json", 400, "invalid_request"),
        (json.dumps(GOOD), "text/plain", 400, "unsupported_content_type"),
        ("query=cats", "application/x-www-form-urlencoded", 400, "unsupported_content_type"),
    ],
)
def test_malformed_body_and_another_content_type_are_400(
    client: FlaskClient, users: WebUsers, data: str, content_type: str, status: int, code: str
) -> None:
    response = client.post(SEARCH, data=data, content_type=content_type, headers=users.a.headers)
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert response.get_json()["message"]
    assert _count_jobs(client, users) == 0


def test_unknown_source_message_lists_the_known_ones(client: FlaskClient, users: WebUsers) -> None:
    body = {**GOOD, "enabled_sources": ["myspace"]}
    message = client.post(SEARCH, json=body, headers=users.a.headers).get_json()["message"]
    assert "myspace" in message and "openverse" in message and "selftest" in message


def test_defaults_apply_when_optional_fields_are_missing(
    client: FlaskClient, users: WebUsers
) -> None:
    response = client.post(SEARCH, json={"query": "dogs"}, headers=users.a.headers)
    assert response.status_code == 201
    job = client.get(f"/api/job-progress/{response.get_json()['job_id']}", headers=users.a.headers)
    assert job.get_json()["safe_search"] is True
    assert job.get_json()["enabled_sources"] == ["selftest"]


def test_query_of_exactly_500_characters_and_max_content_at_the_limit_are_accepted(
    client: FlaskClient, users: WebUsers
) -> None:
    body = {**GOOD, "query": "q" * 500, "max_content": 500}
    assert client.post(SEARCH, json=body, headers=users.a.headers).status_code == 201


def test_max_content_limit_follows_the_settings(runtime: Runtime, users: WebUsers) -> None:
    from tests.plugins.web import make_app

    runtime.settings = runtime.settings.with_overrides(max_content_limit=20)
    client = make_app(runtime).test_client()
    too_many = client.post(SEARCH, json={**GOOD, "max_content": 21}, headers=users.a.headers)
    assert too_many.status_code == 400
    assert "20" in too_many.get_json()["message"]
    assert (
        client.post(SEARCH, json={**GOOD, "max_content": 20}, headers=users.a.headers).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/jobs?status=bogus", "status"),
        ("/api/jobs?storage=disk", "storage"),
        ("/api/jobs?limit=0", "limit"),
        ("/api/jobs?limit=501", "limit"),
        ("/api/jobs?limit=ten", "limit"),
        ("/api/jobs?offset=-1", "offset"),
        ("/api/assets?limit=0", "limit"),
        ("/api/assets?offset=x", "offset"),
    ],
)
def test_bad_list_parameters_are_400(
    client: FlaskClient, users: WebUsers, url: str, field: str
) -> None:
    response = client.get(url, headers=users.a.headers)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_unknown_api_path_is_json_404(client: FlaskClient, users: WebUsers) -> None:
    response = client.get("/api/nothing-here", headers=users.a.headers)
    assert response.status_code == 404
    assert set(response.get_json()) >= {"error", "message"}


def test_sources_lists_the_registry(client: FlaskClient, users: WebUsers) -> None:
    body = client.get("/api/sources", headers=users.b.headers).get_json()
    names = [s["name"] for s in body["sources"]]
    assert "selftest" in names and "url" in names
    assert all(s["description"] for s in body["sources"])
