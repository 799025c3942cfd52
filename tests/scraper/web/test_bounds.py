"""A client's mistake is a 400, never a 5xx (issue 28, item 3): NUL anywhere, dates past what a
database stores, page numbers past any offset, JSON nested deeper than the parser recurses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from scraper.web.bounds import EARLIEST, LATEST, json_depth, storable_instant
from tests.conftest import sqlite_only
from tests.plugins.web import SEARCH, WebUsers, signed_in, submit

FAR_FUTURE = "9999-12-31T23:59:59-14:00"
FAR_PAST = "0001-01-01T00:00:00%2B14:00"


def _queries(response_json: dict[str, object]) -> list[str]:
    jobs = response_json["jobs"]
    assert isinstance(jobs, list)
    return [job["query"] for job in jobs]


def test_extreme_dates_select_what_they_mean_on_every_dialect(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    submit(client, users.a, "cats", 1)
    cases = {
        f"since={FAR_FUTURE}": [],
        f"until={FAR_PAST}": [],
        f"since={FAR_PAST}": ["cats"],
        f"until={FAR_FUTURE}": ["cats"],
        "since=0001-01-01": ["cats"],
        "until=9999-12-31": ["cats"],
    }
    for query, expected in cases.items():
        response = client.get(f"/api/jobs?{query}", headers=users.a.headers)
        assert response.status_code == 200, (query, response.get_json())
        assert _queries(response.get_json()) == expected, query
    browser = signed_in(app, users.a)
    for query in (f"since={FAR_FUTURE}", f"until={FAR_PAST}"):
        page = browser.get(f"/jobs?{query}")
        assert page.status_code == 200 and "cats" not in page.text, query


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs?q=%00",
        "/api/jobs?q=cats%00",
        "/api/assets?job_id=%00",
        "/api/job-progress/ab%00cd",
        "/api/stats?window=%00",
    ],
)
def test_nul_in_a_query_parameter_is_400_on_every_dialect(
    client: FlaskClient, users: WebUsers, path: str
) -> None:
    response = client.get(path, headers=users.a.headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_request"
    assert "NUL" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (SEARCH, {"query": "cats\x00", "enabled_sources": ["selftest"]}, "query"),
        (SEARCH, {"query": "cats", "enabled_sources": ["self\x00test"]}, "enabled_sources[0]"),
        (SEARCH, {"query": "cats", "enabled_sources": ["selftest"], "x\x00": 1}, "body"),
        ("/api/jobs/bulk", {"action": "cancel", "job_ids": ["ab\x00cd"]}, "job_ids[0]"),
        ("/api/jobs/bulk", {"action": "retry\x00", "job_ids": ["x"]}, "action"),
    ],
)
def test_nul_in_a_body_field_is_400_naming_it_on_every_dialect(
    client: FlaskClient, users: WebUsers, runtime: Runtime, url: str, body: dict, field: str
) -> None:
    response = client.post(url, json=body, headers=users.a.headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == field
    assert client.get("/api/jobs", headers=users.a.headers).get_json()["total"] == 0


def test_nul_in_a_page_or_form_is_400_on_every_dialect(app: Flask, users: WebUsers) -> None:
    browser = signed_in(app, users.a)
    assert browser.get("/jobs?q=%00").status_code == 400
    assert browser.post("/search", data={"query": "a\x00", "max_content": "1"}).status_code == 400
    anonymous = app.test_client()
    login = anonymous.post("/login", data={"username": "alice\x00", "password": "x"})
    assert login.status_code == 400 and "NUL" in login.text


@sqlite_only
@pytest.mark.parametrize(
    "page", ["100000000000000000000", "107374183", "0", "-1", "²", "1.5", "abc", "1e3"]
)
def test_a_page_number_past_any_offset_or_not_a_number_is_400(
    app: Flask, users: WebUsers, page: str
) -> None:
    browser = signed_in(app, users.a)
    for path in ("/jobs", "/"):
        response = browser.get(path, query_string={"page": page})
        assert response.status_code == 400, (path, page)
        assert "page: must be a whole number" in response.text


@sqlite_only
@pytest.mark.parametrize(
    ("url", "raw"),
    [
        ("/api/jobs/bulk", '{"action": "cancel", "job_ids": ' + "[" * 5000 + "]" * 5000 + "}"),
        (SEARCH, '{"query": ' + "[" * 2000 + "]" * 2000 + ', "enabled_sources": ["selftest"]}'),
        (SEARCH, '{"query": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}"),
        (SEARCH, "[" * 20000),  # unbalanced, and still no recursion
    ],
)
def test_json_nested_thousands_deep_is_400_not_a_recursion_error(
    client: FlaskClient, users: WebUsers, url: str, raw: str
) -> None:
    response = client.post(url, data=raw, content_type="application/json", headers=users.a.headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == "body"
    assert "deep" in response.get_json()["message"]


@sqlite_only
def test_a_shallow_body_with_brackets_in_strings_is_still_accepted(
    client: FlaskClient, users: WebUsers
) -> None:
    body = {"query": "[[[[{{{{" * 20 + '\\"]]', "enabled_sources": ["selftest"]}
    response = client.post(SEARCH, json=body, headers=users.a.headers)
    assert response.status_code == 201, response.get_json()


def test_json_depth_skips_strings_and_escapes() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[\\"{{"}]}') == 3
    assert json_depth(json.dumps({"q": "]" * 50}).encode()) == 1
    assert json_depth(b"[" * 40) == 40


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))), LATEST),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), EARLIEST),
        (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 12, tzinfo=UTC)),
        (
            datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 1, 10, tzinfo=UTC),
        ),
    ],
)
def test_storable_instant_clamps_and_converts_to_utc(given: datetime, expected: datetime) -> None:
    found = storable_instant(given)
    assert found == expected and found.tzinfo is UTC
