"""`/api/workers` (admin only), `/api/stats` (from the database) and `/api/docs` (no CDN)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from scraper.jobs.assets import asset_row
from scraper.models import ScrapeJob, WorkerHeartbeat, utcnow
from scraper.runtime import Runtime
from scraper.sources.base import MediaItem
from scraper.worker.heartbeats import beat
from tests.conftest import sqlite_only
from tests.plugins.web import Finished, WebUsers, run_all, signed_in, submit


def test_workers_are_listed_busy_idle_or_stale_for_admins_only(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    job = submit(client, users.a, "held by w-busy", 1)
    runtime.store.claim("w-busy", 60)
    beat(runtime.Session, "w-busy", 1, 4)
    beat(runtime.Session, "w-idle", 0, 2, last_error="claims are failing: no such column")
    beat(runtime.Session, "w-old", 0, 9)
    beat(runtime.Session, "w-gone", 0, 9)  # beat two days ago: off the list (months of them)
    with runtime.Session() as s, s.begin():
        for worker, age in (("w-old", timedelta(minutes=10)), ("w-gone", timedelta(days=2))):
            s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.id == worker).values(
                last_seen_at=utcnow() - age))  # fmt: skip
    assert client.get("/api/workers", headers=users.a.headers).status_code == 403
    answer = client.get("/api/workers", headers=users.admin.headers)
    assert answer.status_code == 200
    workers = {w["worker"]: w for w in answer.get_json()["workers"]}
    assert {k: (w["state"], w["jobs"]) for k, w in workers.items()} == {
        "w-busy": ("busy", [job]), "w-idle": ("idle", []), "w-old": ("stale", []),
    }  # fmt: skip
    assert workers["w-idle"]["last_error"].startswith("claims are failing")
    assert {"host", "pid", "started_at", "last_heartbeat_at"} <= set(workers["w-busy"])
    page = signed_in(app, users.admin).get("/workers")
    assert page.status_code == 200 and "w-busy" in page.text and "claims are failing" in page.text
    assert signed_in(app, users.a).get("/workers").status_code == 403


def test_stats_count_jobs_files_and_sources_per_bucket(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    done = submit(client, users.a, "stats", 3)
    run_all(runtime)
    submit(client, users.b, "someone else's", 1)
    with runtime.Session() as s, s.begin():  # an old job falls outside the hour
        s.execute(update(ScrapeJob).where(ScrapeJob.query == "someone else's").values(
            created_at=utcnow() - timedelta(hours=3)))  # fmt: skip
    mine = client.get("/api/stats?window=1h", headers=users.a.headers).get_json()
    assert mine["bucket_seconds"] == 300 and len(mine["buckets"]) == 12
    totals = {k: sum(b[k] for b in mine["buckets"]) for k in ("created", "completed", "files")}
    assert totals == {"created": 1, "completed": 1, "files": 3}
    assert sum(b["bytes"] for b in mine["buckets"]) > 0
    assert mine["sources"] == {"selftest": {"found": 3, "stored": 3, "failed": 0}}
    everyone = client.get("/api/stats?window=24h", headers=users.admin.headers).get_json()
    assert sum(b["created"] for b in everyone["buckets"]) == 2 and len(everyone["buckets"]) == 24
    assert done


@sqlite_only
@pytest.mark.parametrize("window", ["2h", "week", ""])
def test_stats_window_must_be_known(client: FlaskClient, users: WebUsers, window: str) -> None:
    response = client.get(f"/api/stats?window={window}x", headers=users.a.headers)
    assert response.status_code == 400 and response.get_json()["field"] == "window"


@sqlite_only
def test_api_docs_render_the_document_from_the_package(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert "/static/vendor/redoc.standalone.js" in scripts
    assert all(s.startswith("/static/") for s in scripts), scripts  # nothing from a CDN
    assert "'self'" in page.headers["Content-Security-Policy"]
    bundle = client.get("/static/vendor/redoc.standalone.js")
    assert bundle.status_code == 200 and len(bundle.data) > 500_000
    bundle.close()


@sqlite_only
def test_health_panel_paths_and_fixes_are_for_admins_only(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    def storage(user_headers: dict[str, str]) -> str:
        state = client.get("/api/dashboard", headers=user_headers).get_json()
        return next(h["output"] for h in state["health"] if h["name"] == "storage:writable")

    data_dir = str(runtime.settings.data_dir)
    assert data_dir not in storage(users.a.headers)
    assert storage(users.a.headers) == "The data directory is writable."
    assert data_dir in storage(users.admin.headers)


@sqlite_only
def test_file_view_lets_the_browser_show_an_image_or_a_pdf(
    client: FlaskClient, users: WebUsers, runtime: Runtime, finished: Finished
) -> None:
    stored = runtime.files.put_bytes(b"%PDF-1.4\n%%EOF\n", "application/pdf", "doc.pdf")
    item = MediaItem(url="https://example.org/doc.pdf", title="doc", mime="application/pdf")
    with runtime.Session() as session, session.begin():
        session.add(asset_row(finished.job_id, "selftest", item, stored))
    pdf_id = max(
        a["id"]
        for a in client.get(
            f"/api/assets?job_id={finished.job_id}", headers=users.a.headers
        ).get_json()["assets"]
    )
    image = client.get(f"/api/assets/{finished.asset_id}/file", headers=users.a.headers)
    assert "style-src 'unsafe-inline'" in image.headers["Content-Security-Policy"]
    assert "sandbox" in image.headers["Content-Security-Policy"]
    pdf = client.get(f"/api/assets/{pdf_id}/file", headers=users.a.headers)
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("inline")
    csp = pdf.headers["Content-Security-Policy"]
    assert "sandbox" not in csp and "script-src" not in csp and "default-src 'none'" in csp
    download = client.get(f"/api/assets/{pdf_id}/file?download=1", headers=users.a.headers)
    assert download.headers["Content-Disposition"].startswith("attachment")
