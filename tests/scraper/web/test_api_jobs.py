"""Jobs and assets through the API on every dialect: contents, paging, ownership, actions."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from scraper.jobs import JobRecord
from scraper.models import utcnow
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import SEARCH, Finished, WebUser, WebUsers, submit

JOB_FIELDS = {
    "job_id", "status", "progress", "downloaded", "bytes", "bytes_downloaded", "message",
    "storage", "error", "created_at", "updated_at", "started_at", "finished_at", "query",
}  # fmt: skip
ASSET_FIELDS = {"id", "job_id", "source", "url", "sha256", "size_bytes", "content_type", "license"}


def test_search_creates_a_database_job_with_the_contract_fields(
    client: FlaskClient, users: WebUsers
) -> None:
    response = client.post(
        SEARCH,
        json={"enabled_sources": ["selftest"], "query": "owls", "max_content": 2},
        headers=users.a.headers,
    )
    assert response.status_code == 201
    created = response.get_json()
    assert created["success"] is True
    assert created["status"] == "pending" and created["storage"] == "database"
    assert "warning" not in created
    job = client.get(f"/api/job-progress/{created['job_id']}", headers=users.a.headers).get_json()
    assert JOB_FIELDS <= set(job)
    assert job["job_id"] == created["job_id"] and job["progress"] == 0


def test_a_finished_job_reports_progress_bytes_and_assets(
    client: FlaskClient, users: WebUsers, finished: Finished
) -> None:
    job = client.get(f"/api/job-progress/{finished.job_id}", headers=users.a.headers).get_json()
    assert job["status"] == "completed" and job["progress"] == 100
    assert job["downloaded"] == 3 and job["bytes"] == job["bytes_downloaded"] > 0
    assert job["finished_at"] is not None
    assets = client.get(f"/api/assets?job_id={finished.job_id}", headers=users.a.headers)
    body = assets.get_json()
    assert body["total"] == 3 and len(body["assets"]) == 3
    assert ASSET_FIELDS <= set(body["assets"][0])
    assert body["assets"][0]["license"] == "CC0-1.0"


@sqlite_only
def test_asset_file_is_served_with_type_name_and_nosniff(
    client: FlaskClient, users: WebUsers, finished: Finished
) -> None:
    response = client.get(f"/api/assets/{finished.asset_id}/file", headers=users.a.headers)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline; filename=")
    assert (
        response.headers["Content-Disposition"].endswith('.png"')
        or ".png" in (response.headers["Content-Disposition"])
    )
    download = client.get(
        f"/api/assets/{finished.asset_id}/file?download=1", headers=users.a.headers
    )
    assert download.headers["Content-Disposition"].startswith("attachment;")


@sqlite_only
def test_missing_file_is_404(
    client: FlaskClient, users: WebUsers, finished: Finished, runtime: Runtime
) -> None:
    for path in runtime.files.downloads_dir.rglob("*.png"):
        path.unlink()
    response = client.get(f"/api/assets/{finished.asset_id}/file", headers=users.a.headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "file_missing"


# -- who sees what -----------------------------------------------------------------------------

MATRIX = {"anonymous": 401, "a": 200, "b": 404, "admin": 200}


@sqlite_only
@pytest.mark.parametrize(
    "path",
    [
        "/api/job-progress/{job}",
        "/api/jobs/{job}",
        "/api/assets?job_id={job}",
        "/api/assets/{asset}",
        "/api/assets/{asset}/file",
    ],
)
@pytest.mark.parametrize("who", list(MATRIX))
def test_reads_follow_the_ownership_matrix(
    client: FlaskClient, users: WebUsers, finished: Finished, path: str, who: str
) -> None:
    headers = {} if who == "anonymous" else users[who].headers
    url = path.format(job=finished.job_id, asset=finished.asset_id)
    response = client.get(url, headers=headers)
    assert response.status_code == MATRIX[who]
    if response.status_code != 200:
        assert set(response.get_json()) >= {"error", "message"}


@sqlite_only
@pytest.mark.parametrize("who", list(MATRIX))
def test_cancel_follows_the_ownership_matrix(
    client: FlaskClient, users: WebUsers, who: str
) -> None:
    job_id = submit(client, users.a)
    headers = {} if who == "anonymous" else users[who].headers
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=headers)
    assert response.status_code == MATRIX[who]
    status = client.get(f"/api/jobs/{job_id}", headers=users.a.headers).get_json()["status"]
    assert status == ("cancelled" if MATRIX[who] == 200 else "pending")


def test_lists_show_a_user_only_their_own_and_an_admin_everything(
    client: FlaskClient, users: WebUsers, finished: Finished
) -> None:
    submit(client, users.b, "b's")

    def totals(user: WebUser) -> tuple[int, int]:
        jobs = client.get("/api/jobs", headers=user.headers).get_json()["total"]
        assets = client.get("/api/assets", headers=user.headers).get_json()["total"]
        return jobs, assets

    assert totals(users.a) == (1, 3)
    assert totals(users.b) == (1, 0)
    assert totals(users.admin) == (2, 3)


def test_unknown_job_is_404(client: FlaskClient, users: WebUsers) -> None:
    for url in ("/api/job-progress/nope", "/api/jobs/nope", "/api/assets?job_id=nope"):
        response = client.get(url, headers=users.admin.headers)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


# -- listing -----------------------------------------------------------------------------------


def test_jobs_are_paged_and_filtered_by_status(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    ids = [submit(client, users.a, f"q{i}", 1) for i in range(5)]
    client.post(f"/api/jobs/{ids[0]}/cancel", headers=users.a.headers)
    page = client.get("/api/jobs?limit=2&offset=0", headers=users.a.headers).get_json()
    rest = client.get("/api/jobs?limit=10&offset=2", headers=users.a.headers).get_json()
    assert page["total"] == rest["total"] == 5
    assert len(page["jobs"]) == 2 and len(rest["jobs"]) == 3
    seen = {j["job_id"] for j in page["jobs"] + rest["jobs"]}
    assert seen == set(ids)
    cancelled = client.get("/api/jobs?status=cancelled", headers=users.a.headers).get_json()
    assert [j["job_id"] for j in cancelled["jobs"]] == [ids[0]] and cancelled["total"] == 1
    assert client.get("/api/jobs?status=running", headers=users.a.headers).get_json()["total"] == 0
    for name in ("status", "storage", "limit", "offset"):  # outside the schema: no value
        blank = client.get(f"/api/jobs?{name}=", headers=users.a.headers)
        assert (blank.status_code, blank.get_json()["field"]) == (400, name)


def test_assets_are_paged(client: FlaskClient, users: WebUsers, finished: Finished) -> None:
    first = client.get("/api/assets?limit=2", headers=users.a.headers).get_json()
    second = client.get("/api/assets?limit=2&offset=2", headers=users.a.headers).get_json()
    assert first["total"] == second["total"] == 3
    assert len(first["assets"]) == 2 and len(second["assets"]) == 1


def _hold(runtime: Runtime, user: WebUser, query: str = "held") -> JobRecord:
    now = utcnow()
    record = JobRecord(
        id=f"held-{query}", query=query, max_content=2, safe_search=True,
        enabled_sources=["selftest"], user_id=user.id, created_at=now, updated_at=now,
    )  # fmt: skip
    return runtime.fallback.put(record, reason="test")


def test_fallback_jobs_are_listed_with_storage_and_a_warning(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    held = _hold(runtime, users.a)
    submit(client, users.a)
    everything = client.get("/api/jobs", headers=users.a.headers).get_json()
    assert everything["total"] == 2
    first = everything["jobs"][0]
    assert first["job_id"] == held.id and first["storage"] == "fallback"
    assert "ops doctor" in first["warning"]
    only = client.get("/api/jobs?storage=fallback", headers=users.a.headers).get_json()
    assert [j["job_id"] for j in only["jobs"]] == [held.id]
    db = client.get("/api/jobs?storage=database", headers=users.a.headers).get_json()
    assert db["total"] == 1 and db["jobs"][0]["storage"] == "database"
    assert client.get(f"/api/jobs/{held.id}", headers=users.b.headers).status_code == 404


def test_a_refused_write_answers_201_with_fallback_storage_and_warning(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN run_after"))
    response = client.post(
        SEARCH, json={"enabled_sources": ["selftest"], "query": "drift"}, headers=users.a.headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["storage"] == "fallback" and body["warning"]
    listed = client.get("/api/jobs?storage=fallback", headers=users.a.headers).get_json()
    assert [j["job_id"] for j in listed["jobs"]] == [body["job_id"]]


# -- actions -----------------------------------------------------------------------------------


def test_cancel_then_retry_then_conflicts(
    client: FlaskClient, users: WebUsers, finished: Finished
) -> None:
    job_id = submit(client, users.a, "to cancel")
    cancel = client.post(f"/api/jobs/{job_id}/cancel", headers=users.a.headers)
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "cancelled"
    again = client.post(f"/api/jobs/{job_id}/cancel", headers=users.a.headers)
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"
    retry = client.post(f"/api/jobs/{job_id}/retry", headers=users.a.headers)
    assert retry.status_code == 200 and retry.get_json()["status"] == "pending"
    done = client.post(f"/api/jobs/{finished.job_id}/cancel", headers=users.a.headers)
    assert done.status_code == 409


@sqlite_only
def test_retry_follows_ownership(client: FlaskClient, users: WebUsers) -> None:
    job_id = submit(client, users.a)
    client.post(f"/api/jobs/{job_id}/cancel", headers=users.a.headers)
    assert client.post(f"/api/jobs/{job_id}/retry", headers=users.b.headers).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 401
    assert client.post(f"/api/jobs/{job_id}/retry", headers=users.admin.headers).status_code == 200
