"""`GET /api/jobs` keyset paging (SPEC): `next_cursor` walks every job once, in the order of
`sort`, fallback jobs first; a cursor we did not make and `limit` over 200 are 400."""

from __future__ import annotations

import base64
import html
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from scraper.jobs import JobRecord
from scraper.models import ScrapeJob, utcnow
from scraper.runtime import Runtime
from tests.plugins.web import WebUsers, signed_in

STATUSES = ("pending", "running", "completed", "failed", "cancelled")


def _fill(runtime: Runtime, owner: int, count: int = 23) -> None:
    """Jobs with ties on created_at (pairs share a microsecond), every status and progress."""
    now = utcnow()
    rows = [
        {
            "id": str(uuid.UUID(int=n * 7919 % 1000 + 1)),
            "user_id": owner,
            "query": f"job {n}",
            "max_content": 1,
            "enabled_sources": ["selftest"],
            "status": STATUSES[n % 5],
            "progress": (n * 37) % 3 * 50,
            "created_at": now - timedelta(seconds=n // 2),
            "updated_at": now,
        }
        for n in range(count)
    ]
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)


def _hold(runtime: Runtime, owner: int, n: int) -> None:
    now = utcnow()
    record = JobRecord(
        id=f"held-{n}", query=f"held {n}", max_content=1, safe_search=True,
        enabled_sources=["selftest"], user_id=owner, created_at=now, updated_at=now,
    )  # fmt: skip
    runtime.fallback.put(record, reason="test")


def _get(client: FlaskClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    response = client.get(f"/api/jobs?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _walk(client: FlaskClient, headers: dict[str, str], query: str) -> list[str]:
    seen: list[str] = []
    body = _get(client, headers, f"{query}&limit=4")
    while True:
        seen += [j["job_id"] for j in body["jobs"]]
        assert body["total_is_estimate"] is False
        if body["next_cursor"] is None:
            return seen
        assert len(body["jobs"]) == 4
        body = _get(client, headers, f"{query}&limit=4&cursor={body['next_cursor']}")


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "status", "progress"])
def test_cursor_pages_list_every_job_once_in_the_order_of_sort(
    client: FlaskClient, users: WebUsers, runtime: Runtime, sort: str
) -> None:
    _fill(runtime, users.a.id)
    for n in range(3):
        _hold(runtime, users.a.id, n)
    everything = _get(client, users.a.headers, f"sort={sort}&limit=200")
    expected = [j["job_id"] for j in everything["jobs"]]
    assert everything["total"] == len(expected) == 26 and everything["next_cursor"] is None
    assert set(expected[:3]) == {"held-0", "held-1", "held-2"}  # fallback jobs first
    assert _walk(client, users.a.headers, f"sort={sort}") == expected
    assert _walk(client, users.a.headers, f"sort={sort}&status=failed") == [
        j["job_id"] for j in everything["jobs"] if j["status"] == "failed"
    ]
    rows = [j for j in everything["jobs"] if j["storage"] == "database"]
    key = {
        "-created_at": lambda j: (j["created_at"], j["job_id"]),
        "created_at": lambda j: (j["created_at"], j["job_id"]),
        "status": lambda j: (j["status"], _desc(j)),
        "progress": lambda j: (j["progress"], _desc(j)),
    }[sort]
    assert rows == sorted(rows, key=key, reverse=sort == "-created_at")


def _desc(job: dict[str, Any]) -> tuple[int, ...]:
    """Newest first, then the larger id first, as an ascending key."""
    return tuple(-ord(ch) for ch in job["created_at"] + job["job_id"])


def test_offset_pages_carry_a_cursor_too(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    _fill(runtime, users.a.id)
    first = _get(client, users.a.headers, "limit=5&offset=5")
    after = _get(client, users.a.headers, f"limit=5&cursor={first['next_cursor']}")
    assert [j["job_id"] for j in after["jobs"]] == [
        j["job_id"] for j in _get(client, users.a.headers, "limit=5&offset=10")["jobs"]
    ]


def _cursor(client: FlaskClient, users: WebUsers, runtime: Runtime) -> str:
    _fill(runtime, users.a.id)
    cursor: str = _get(client, users.a.headers, "limit=2")["next_cursor"]
    return cursor


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (path, bad)
        for path, unsigned in (
            ("/api/jobs", b'[1,"-created_at",0,null,null,null]'),
            ("/api/assets", b'[2,"2026-01-01T00:00:00+00:00","j",1]'),
        )
        for bad in ("garbage", "%00%01", base64.urlsafe_b64encode(unsigned).decode(), "x" * 600)
    ],
)
def test_a_cursor_we_did_not_make_is_400_naming_it(
    client: FlaskClient, users: WebUsers, path: str, bad: str
) -> None:
    """Of the jobs list and of the assets list (test_api_assets_paging.py)."""
    response = client.get(f"{path}?cursor={bad}", headers=users.a.headers)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] and "cursor" in body["message"] and body["field"] == "cursor"


def test_a_tampered_cursor_or_one_for_another_sort_is_400(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    cursor = _cursor(client, users, runtime)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for query in (f"cursor={tampered}", f"cursor={cursor}&sort=progress"):
        response = client.get(f"/api/jobs?{query}", headers=users.a.headers)
        assert response.status_code == 400, query
        assert "cursor" in response.get_json()["message"]


@pytest.mark.parametrize(("limit", "status"), [(200, 200), (201, 400), (1000000, 400)])
def test_limit_is_at_most_200(
    client: FlaskClient, users: WebUsers, limit: int, status: int
) -> None:
    response = client.get(f"/api/jobs?limit={limit}", headers=users.a.headers)
    assert response.status_code == status
    if status == 400:
        assert response.get_json()["field"] == "limit"


def test_q_longer_than_the_query_column_is_400(client: FlaskClient, users: WebUsers) -> None:
    response = client.get(f"/api/jobs?q={'x' * 501}", headers=users.a.headers)
    assert response.status_code == 400 and response.get_json()["field"] == "q"


def test_the_jobs_page_links_its_next_page_by_cursor(
    app: Flask, users: WebUsers, runtime: Runtime
) -> None:
    _fill(runtime, users.a.id, 60)
    browser = signed_in(app, users.a)
    seen: list[str] = []
    path = "/jobs?sort=progress"
    for _ in range(3):
        page = browser.get(path)
        assert page.status_code == 200
        seen += re.findall(r'href="/jobs/([0-9a-f-]{36})"', page.text)
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        if found is None:
            break
        path = "/jobs" + html.unescape(found.group(1))
    assert "cursor=" in path and len(seen) == len(set(seen)) == 60
    bad = browser.get("/jobs?cursor=forged")
    assert bad.status_code == 400 and "cursor" in bad.text
