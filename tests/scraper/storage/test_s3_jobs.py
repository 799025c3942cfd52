"""Jobs, the API and the dashboard over an S3 store (a real SeaweedFS), on SQLite and
PostgreSQL: files land in the bucket, are served from it, and a failed upload records nothing."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ops.smoke import free_port
from scraper.config import Settings
from scraper.models import Asset, Base
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from scraper.worker import Worker
from tests.plugins.processes import wait_until
from tests.plugins.seaweedfs import SeaweedFS
from tests.plugins.web import WebUsers, make_app, make_users, run_all, signed_in, submit

pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def s3_runtime(settings: Settings, url: str, endpoint: str) -> Iterator[Runtime]:
    rt = Runtime(settings.with_overrides(storage_url=url, s3_endpoint_url=endpoint))
    Base.metadata.create_all(rt.engine)
    yield rt
    rt.close()


@pytest.fixture
def s3_rt(settings: Settings, seaweedfs: SeaweedFS, s3_bucket: str) -> Iterator[Runtime]:
    """A runtime whose files live in a fresh SeaweedFS bucket under the prefix `media`."""
    yield from s3_runtime(settings, f"s3://{s3_bucket}/media", seaweedfs.endpoint)


def served_job(rt: Runtime, query: str, n: int) -> tuple[FlaskClient, WebUsers, str]:
    """A client, the users, and the id of user A's finished selftest job of `n` files."""
    users = make_users(rt)
    client = make_app(rt).test_client()
    job_id = submit(client, users.a, query, n)
    run_all(rt)
    return client, users, job_id


def asset_count(runtime: Runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(Asset)) or 0


def test_a_job_stores_its_files_in_the_bucket_and_the_api_serves_them(
    s3_rt: Runtime, seaweedfs: SeaweedFS, s3_bucket: str
) -> None:
    client, users, job_id = served_job(s3_rt, "herons", 3)

    body = client.get(f"/api/assets?job_id={job_id}", headers=users.a.headers).get_json()
    assert body["total"] == 3
    expected = {hashlib.sha256(make_png(f"herons/{i}")).hexdigest() for i in (1, 2, 3)}
    keys = seaweedfs.object_keys(s3_bucket)
    assert {k.rsplit("/", 1)[-1].split(".")[0] for k in keys if "/downloads/" in k} == expected
    assert not (s3_rt.settings.data_dir / "downloads").exists()
    for asset in body["assets"]:
        reply = client.get(f"/api/assets/{asset['id']}/file", headers=users.a.headers)
        assert reply.status_code == 200 and reply.mimetype == "image/png"
        assert hashlib.sha256(reply.data).hexdigest() == asset["sha256"]
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Content-Length"] == str(asset["size_bytes"])
        again = client.get(
            f"/api/assets/{asset['id']}/file",
            headers={**users.a.headers, "If-None-Match": reply.headers["ETag"]},
        )
        assert again.status_code == 304
    other = client.get(f"/api/assets/{body['assets'][0]['id']}/file", headers=users.b.headers)
    assert other.status_code == 404, "the same auth check as on disk"


def test_the_dashboard_thumbnails_load_from_the_bucket(s3_rt: Runtime) -> None:
    app = make_app(s3_rt)
    users = make_users(s3_rt)
    browser: FlaskClient = signed_in(app, users.a)
    job_id = submit(browser, users.a, "kites", 2)
    run_all(s3_rt)
    html = browser.get(f"/jobs/{job_id}").get_data(as_text=True)
    sources = [part.split('"')[0] for part in html.split('<img src="')[1:]]
    assert len(sources) == 2
    for src in sources:
        image = browser.get(src)
        assert image.status_code == 200 and image.data.startswith(b"\x89PNG")


def test_a_failed_upload_leaves_no_asset_row(
    settings: Settings, seaweedfs: SeaweedFS, s3_bucket: str
) -> None:
    once = settings.with_overrides(max_attempts=1)  # else requeued to wait for the bucket
    for rt in s3_runtime(once, "s3://bucket-that-is-not-there/media", seaweedfs.endpoint):
        users = make_users(rt)
        job_id = submit(make_app(rt).test_client(), users.a, "gulls", 2)
        run_all(rt)
        job = rt.store.get(job_id)
        assert job.status == "failed", job
        assert "bucket-that-is-not-there does not exist" in (job.error or "")
        assert job.result["sources"]["selftest"]["skipped"] == {"storage_error": 2}
        assert asset_count(rt) == 0
        assert not list((rt.settings.data_dir / "tmp").glob("*.part"))


def test_an_unreachable_store_answers_503_not_404(
    settings: Settings, s3_rt: Runtime, seaweedfs: SeaweedFS, s3_bucket: str
) -> None:
    client, users, job_id = served_job(s3_rt, "terns", 1)
    asset = client.get(f"/api/assets?job_id={job_id}", headers=users.a.headers).get_json()
    asset_id = asset["assets"][0]["id"]
    down = f"http://127.0.0.1:{free_port()}"
    for rt in s3_runtime(settings, f"s3://{s3_bucket}/media", down):
        reply = (
            make_app(rt).test_client().get(f"/api/assets/{asset_id}/file", headers=users.a.headers)
        )
        assert reply.status_code == 503
        assert reply.get_json()["error"] == "storage_unavailable"
        assert down in reply.get_json()["message"]


@pytest.mark.slow
def test_workers_claim_nothing_while_the_bucket_refuses_and_resume_once_it_is_back(
    settings: Settings, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"later-{uuid.uuid4().hex[:12]}"
    for rt in s3_runtime(settings, f"s3://{bucket}/media", seaweedfs.endpoint):
        check_claims_wait_for_the_bucket(rt, seaweedfs, bucket)


def check_claims_wait_for_the_bucket(rt: Runtime, seaweedfs: SeaweedFS, bucket: str) -> None:
    """A job queued while the bucket is missing waits; made, the bucket gets its files."""
    job_id = submit(make_app(rt).test_client(), make_users(rt).a, "cranes", 2)
    worker = Worker(rt)
    worker.start()
    try:
        refusal = f"The bucket {bucket} does not exist"
        wait_until(lambda: refusal in (worker.claims.summary or ""), 30, "the refusal")
        time.sleep(0.5)  # more polls (0.05 s), each one refused by the missing bucket
        assert rt.store.get(job_id).status == "pending", "claimed while nothing can be stored"
        seaweedfs.client().create_bucket(Bucket=bucket)
        wait_until(lambda: rt.store.get(job_id).status == "completed", 30, "the job to end")
    finally:
        worker.stop()
    assert asset_count(rt) == 2 and worker.claims.summary is None
