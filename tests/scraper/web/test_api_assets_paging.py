"""`GET /api/assets` keyset paging: `next_cursor` walks every asset the user may see once,
newest job first, each job's newest asset first; the total is exact up to the cap and says
when it is estimated; a cursor we did not make (or one made for jobs) is 400 naming it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert

from scraper.jobs.reads import assets as asset_reads
from scraper.models import Asset, ScrapeJob, utcnow
from scraper.runtime import Runtime
from tests.plugins.web import WebUsers


def _fill(
    runtime: Runtime, owners: dict[int, int], per_job: int = 3, empty_every: int = 0
) -> dict[int, list[str]]:
    """`owners[user]` jobs each, interleaved, pairs sharing a creation instant, `per_job`
    assets each (none for every `empty_every`-th job); each user's job ids, newest first."""
    now = utcnow()
    jobs: dict[int, list[tuple[datetime, str]]] = {user: [] for user in owners}
    job_rows, asset_rows = [], []
    for n in range(max(owners.values())):
        for user, count in owners.items():
            if n >= count:
                continue
            job_id, at = str(uuid.uuid4()), now - timedelta(seconds=n // 2)
            jobs[user].append((at, job_id))
            job_rows.append(
                {"id": job_id, "user_id": user, "query": f"q {n}", "max_content": per_job,
                 "enabled_sources": ["selftest"], "status": "completed", "created_at": at,
                 "updated_at": now}
            )  # fmt: skip
            if empty_every and n % empty_every == 0:
                continue
            asset_rows += [
                {"job_id": job_id, "source": "selftest", "url": f"https://example.org/{k}",
                 "path": f"ab/{job_id}{k}", "filename": "f.png", "sha256": f"{k:064x}",
                 "size_bytes": 10, "content_type": "image/png", "created_at": now}
                for k in range(per_job)
            ]  # fmt: skip
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), job_rows)
        if asset_rows:
            conn.execute(insert(Asset), asset_rows)
    return {user: [job for _, job in sorted(found, reverse=True)] for user, found in jobs.items()}


def _in_order(assets: list[dict[str, Any]], jobs: list[str]) -> bool:
    """Newest job first (the order of `jobs`), then each job's newest asset first."""
    keys = [(jobs.index(a["job_id"]), -a["id"]) for a in assets]
    return keys == sorted(keys)


def _get(client: FlaskClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    response = client.get(f"/api/assets?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _walk(client: FlaskClient, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    body = _get(client, headers, f"{query}&limit=4")
    total = body["total"]
    while True:
        seen += body["assets"]
        assert (body["total"], body["total_is_estimate"]) == (total, False)
        if body["next_cursor"] is None:
            return seen
        assert len(body["assets"]) == 4
        body = _get(client, headers, f"{query}&limit=4&cursor={body['next_cursor']}")


def test_cursor_pages_list_each_users_assets_once_newest_first(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    jobs = _fill(runtime, {users.a.id: 5, users.b.id: 3})
    mine = _walk(client, users.a.headers)
    ids = [a["id"] for a in mine]
    assert len(set(ids)) == 15 and _in_order(mine, jobs[users.a.id])
    assert _get(client, users.a.headers, "limit=4")["total"] == 15
    everyone = _walk(client, users.admin.headers)
    every_job = sorted(jobs[users.a.id] + jobs[users.b.id], key=lambda j: [
        a["job_id"] for a in everyone].index(j))  # fmt: skip
    assert len({a["id"] for a in everyone}) == 24 and {a["id"] for a in everyone} >= set(ids)
    assert _in_order(everyone, every_job)
    one_job = _walk(client, users.b.headers, f"job_id={jobs[users.b.id][1]}")
    assert [a["job_id"] for a in one_job] == [jobs[users.b.id][1]] * 3


def test_offset_pages_carry_a_cursor_too(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    _fill(runtime, {users.a.id: 4})
    first = _get(client, users.a.headers, "limit=3&offset=3")
    after = _get(client, users.a.headers, f"limit=3&cursor={first['next_cursor']}")
    by_offset = _get(client, users.a.headers, "limit=3&offset=6")
    assert [a["id"] for a in after["assets"]] == [a["id"] for a in by_offset["assets"]]


def test_past_the_cap_the_total_is_an_estimate_never_below_it(
    client: FlaskClient, users: WebUsers, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(runtime, {users.a.id: 4, users.b.id: 2})
    monkeypatch.setattr(asset_reads, "EXACT_LIMIT", 5)
    for headers in (users.a.headers, users.admin.headers):
        body = _get(client, headers, "limit=2")
        assert body["total_is_estimate"] is True and body["total"] >= 6, body
    small = _get(client, users.b.headers, "limit=2")  # 6 of b's: one past the cap
    assert small["total_is_estimate"] is True and small["total"] >= 6
    whole = _get(client, users.b.headers, "limit=10")  # a first page that holds them all
    assert (whole["total"], whole["total_is_estimate"]) == (6, False)


def test_a_jobs_cursor_is_not_an_assets_cursor(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    _fill(runtime, {users.a.id: 3})
    jobs_cursor = client.get("/api/jobs?limit=1", headers=users.a.headers).get_json()
    assets_cursor = _get(client, users.a.headers, "limit=1")["next_cursor"]
    for path in (
        f"/api/assets?cursor={jobs_cursor['next_cursor']}",
        f"/api/jobs?cursor={assets_cursor}",
    ):
        response = client.get(path, headers=users.a.headers)
        assert response.status_code == 400, path
        assert response.get_json()["field"] == "cursor"


def test_jobs_without_assets_are_walked_past(
    client: FlaskClient, users: WebUsers, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages read the jobs in batches: runs of jobs with no asset (failed, cancelled) longer
    than a batch, or than a page's rounds, still lead to every asset once."""
    monkeypatch.setattr(asset_reads, "JOB_BATCH", 3)
    monkeypatch.setattr(asset_reads, "ROUNDS", 2)
    jobs = _fill(runtime, {users.a.id: 40}, per_job=2, empty_every=1)  # no assets at all
    assert _get(client, users.a.headers, "limit=4") == {
        "assets": [], "total": 0, "next_cursor": None, "total_is_estimate": False,
    }  # fmt: skip
    with runtime.engine.begin() as conn:  # two jobs hold assets: the 2nd newest and the oldest
        for job_id in (jobs[users.a.id][1], jobs[users.a.id][-1]):
            conn.execute(insert(Asset), [
                {"job_id": job_id, "source": "selftest", "url": "https://example.org/",
                 "path": f"p/{job_id}{k}", "filename": "f.png", "sha256": f"{k:064x}",
                 "size_bytes": 1, "content_type": "image/png", "created_at": utcnow()}
                for k in range(3)
            ])  # fmt: skip
    seen, pages = [], 0
    body = _get(client, users.a.headers, "limit=4")
    while True:
        pages += 1
        seen += body["assets"]
        if body["next_cursor"] is None:
            break
        body = _get(client, users.a.headers, f"limit=4&cursor={body['next_cursor']}")
    assert len({a["id"] for a in seen}) == 6 and _in_order(seen, jobs[users.a.id])
    assert pages > 2  # short pages: 40 jobs are more than a page's 2 rounds of 3
