"""Validation of `POST /api/comprehensive-search` and list queries (pure input checks: SQLite)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers

pytestmark = sqlite_only

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
        ({**GOOD, "query": "cats\u0000dogs"}, "query"),  # no database stores a NUL
        ({**GOOD, "query": "cats \ud800"}, "query"),  # an unpaired surrogate is no UTF-8
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


def test_enabled_sources_is_required_and_defaults_apply_to_the_optional_fields(
    client: FlaskClient, users: WebUsers
) -> None:
    response = client.post(
        SEARCH, json={"enabled_sources": ["selftest"], "query": "dogs"}, headers=users.a.headers
    )
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
        ("/api/jobs?limit=", "limit"),
        ("/api/jobs?status=", "status"),
        ("/api/jobs?limit=5&limit=6", "limit"),
        ("/api/jobs?colour=red", "colour"),
        ("/api/assets?job_id=%00", "job_id"),
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


@pytest.mark.parametrize(
    ("query", "sources", "reason"),
    [
        ("cats", ["url"], "scheme '(none)' is not allowed"),
        ("ftp://example.org/a.rss", ["feed"], "scheme 'ftp' is not allowed"),
        ("javascript:alert(1)", ["url"], "scheme 'javascript' is not allowed"),
        ("https://", ["feed"], "URL has no host"),
        ("https://me:secret@example.org/", ["url"], "credentials in URLs are not allowed"),
        ("http://example.org:99999/", ["url"], "malformed URL"),
        ("cats", ["selftest", "feed"], "scheme '(none)' is not allowed"),
    ],
)
def test_url_and_feed_sources_refuse_a_query_that_is_no_http_url(
    client: FlaskClient, users: WebUsers, query: str, sources: list[str], reason: str
) -> None:
    body = {**GOOD, "query": query, "enabled_sources": sources}
    response = client.post(SEARCH, json=body, headers=users.a.headers)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "invalid_request" and error["field"] == "query"
    assert error["message"].startswith("query: the ")
    assert "needs an http(s) URL" in error["message"] and reason in error["message"]
    assert _count_jobs(client, users) == 0


@pytest.mark.parametrize("sources", [["url"], ["feed"], ["url", "feed"]])
def test_url_and_feed_sources_accept_an_http_url_without_resolving_it(
    client: FlaskClient, users: WebUsers, sources: list[str]
) -> None:
    # No DNS at submission: a name nothing resolves here is still a well-formed URL.
    body = {**GOOD, "query": " https://media.example.invalid/feed.xml ", "enabled_sources": sources}
    assert client.post(SEARCH, json=body, headers=users.a.headers).status_code == 201


def test_other_sources_take_any_query(client: FlaskClient, users: WebUsers) -> None:
    body = {**GOOD, "query": "ftp://not-a-web-page", "enabled_sources": ["selftest"]}
    assert client.post(SEARCH, json=body, headers=users.a.headers).status_code == 201
