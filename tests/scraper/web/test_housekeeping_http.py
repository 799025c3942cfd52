"""`DELETE /api/jobs/<id>`, `GET /api/jobs/<id>/archive`, and the job page's Delete and
Download all buttons (the rules are the library's, tested on every dialect there)."""

from __future__ import annotations

import io
import json
import zipfile

from flask import Flask
from flask.testing import FlaskClient

from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, make_app, run_all, signed_in, submit
from tests.scraper.web.test_database_unavailable import cut_database

pytestmark = sqlite_only


def finished_job(client: FlaskClient, users: WebUsers, runtime: Runtime, query: str) -> str:
    job_id = submit(client, users.a, query, 3)
    run_all(runtime)
    return job_id


def test_delete_answers_the_contract_and_removes_the_files(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    job_id = finished_job(client, users, runtime, "owls")
    assert len(list(runtime.files.keys())) == 3

    assert client.delete(f"/api/jobs/{job_id}", headers=users.b.headers).status_code == 404
    response = client.delete(f"/api/jobs/{job_id}", headers=users.a.headers)

    assert response.status_code == 200
    assert response.get_json() == {"deleted": job_id, "files_removed": 3}
    assert list(runtime.files.keys()) == []
    assert client.get(f"/api/jobs/{job_id}", headers=users.a.headers).status_code == 404
    again = client.delete(f"/api/jobs/{job_id}", headers=users.a.headers)
    assert again.status_code == 404 and again.get_json()["error"] == "not_found"


def test_an_admin_may_delete_anyones_job_but_an_active_one_is_409(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    done = finished_job(client, users, runtime, "owls")
    waiting = submit(client, users.a, "pending", 1)

    refused = client.delete(f"/api/jobs/{waiting}", headers=users.admin.headers)
    assert refused.status_code == 409 and "cancel it first" in refused.get_json()["message"]
    deleted = client.delete(f"/api/jobs/{done}", headers=users.admin.headers)
    assert deleted.get_json() == {"deleted": done, "files_removed": 3}


def test_the_archive_is_a_streamed_zip_with_metadata(
    client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    job_id = finished_job(client, users, runtime, "herons")
    assert client.get(f"/api/jobs/{job_id}/archive", headers=users.b.headers).status_code == 404

    response = client.get(f"/api/jobs/{job_id}/archive", headers=users.a.headers)

    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}.zip"'
    zf = zipfile.ZipFile(io.BytesIO(response.get_data()))
    manifest = json.loads(zf.read("metadata.json"))
    assert manifest["job"]["job_id"] == job_id and manifest["job"]["query"] == "herons"
    assert len(manifest["files"]) == 3
    assert all(zf.read(f["name"]) for f in manifest["files"])


def test_the_job_page_offers_download_all_and_delete_with_a_question(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    job_id = finished_job(client, users, runtime, "cranes")
    browser = signed_in(app, users.a)
    page = browser.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f'href="/api/jobs/{job_id}/archive"' in page and "Download all (3 files, zip)" in page
    assert 'id="delete-button"' in page and "data-confirm=" in page

    response = browser.post(f"/jobs/{job_id}/delete", follow_redirects=True)

    assert "Job deleted (3 asset(s), 3 file(s) removed)." in response.get_data(as_text=True)
    assert browser.get(f"/jobs/{job_id}").status_code == 404


def test_the_job_page_delete_needs_a_csrf_token_and_refuses_an_active_job(
    runtime: Runtime, users: WebUsers
) -> None:
    app = make_app(runtime, csrf=True)
    browser = signed_in(app, users.a)
    job_id = submit(app.test_client(), users.a, "pending", 1)
    assert browser.post(f"/jobs/{job_id}/delete").status_code == 400
    page = browser.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="delete-button"' not in page

    plain = signed_in(make_app(runtime), users.a)
    refused = plain.post(f"/jobs/{job_id}/delete", follow_redirects=True)
    assert "cancel it first" in refused.get_data(as_text=True)
    assert plain.post("/jobs/no-such-job/delete").status_code == 404


def test_bulk_delete_removes_finished_jobs_and_names_refusals_by_query(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    done = finished_job(client, users, runtime, "old owls")
    waiting = submit(client, users.a, "still waiting", 1)
    browser = signed_in(app, users.a)

    form = {"action": "delete", "scope": "selected", "job_ids": [done, waiting]}
    page = browser.post("/jobs/bulk", data=form, follow_redirects=True).get_data(as_text=True)

    assert "1 job(s) deleted, 1 refused." in page
    assert "&#39;still waiting&#39;: it is pending; cancel it first" in page
    assert waiting not in page.split('id="jobs-table"')[0]  # refusals name queries, not ids
    assert [j.id for j in runtime.jobs.list().jobs] == [waiting]
    assert 'id="bulk-delete"' in page and "data-confirm=" in page


def test_bulk_with_nothing_ticked_says_so_and_does_nothing(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    waiting = submit(client, users.a, "waiting", 1)
    browser = signed_in(app, users.a)
    form = {"action": "cancel", "scope": "selected"}
    page = browser.post("/jobs/bulk", data=form, follow_redirects=True).get_data(as_text=True)
    assert "No job is ticked: tick the jobs to cancel, or choose all matching." in page
    assert "0 job(s)" not in page
    assert runtime.jobs.get(waiting).status == "pending"


def test_a_page_past_the_last_links_to_the_last_page_not_the_one_before(
    app: Flask, client: FlaskClient, users: WebUsers
) -> None:
    submit(client, users.a, "one", 1)
    page = signed_in(app, users.a).get("/jobs?page=999")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "Page 999 is past the last page (1)" in html
    assert "page=998" not in html and "Page 999 of 1" not in html
    assert 'href="?page=1">← Last page (1)</a>' in html


def test_delete_and_archive_answer_503_while_the_database_is_unreachable(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    job_id = finished_job(client, users, runtime, "owls")
    cut_database(runtime)
    for method, path in [("DELETE", f"/api/jobs/{job_id}"), ("GET", f"/api/jobs/{job_id}/archive")]:
        response = client.open(path, method=method, headers=users.a.headers)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json()["error"] == "database_unavailable"
