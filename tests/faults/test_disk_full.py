"""The data directory fills up: the download fails naming ENOSPC, no temp file stays, the
service keeps answering."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.faults.conftest import TMPFS_BYTES, Serve, api_session
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.processes import scraper_env, wait_until


@pytest.mark.slow
@sqlite_only
def test_a_download_larger_than_the_free_space_fails_with_enospc_and_the_service_stays_up(
    runtime: Runtime, small_data_dir: Path, serve: Serve, http_server: HTTPTestServer
) -> None:
    # The database lives outside the small disk: only the download runs out of space.
    big = b"\x89PNG\r\n\x1a\n" + bytes(3 * 1024 * 1024)
    http_server.route("/big.png", big, "image/png")
    http_server.route("/page.html", b'<html><img src="/big.png"></html>', "text/html")
    api = api_session(runtime)
    # One attempt: a job the storage refused is otherwise requeued to wait for space.
    env = scraper_env(runtime.settings.database_url, small_data_dir, SCRAPER_MAX_ATTEMPTS="1")
    web = serve(env, "--concurrency", "1")
    body = {"query": http_server.url("/page.html"), "max_content": 1, "enabled_sources": ["url"]}
    job_id = api.post(web.url + "/api/comprehensive-search", json=body, timeout=30).json()["job_id"]

    wait_until(lambda: runtime.store.get(job_id).status == "failed", 60, "the job to fail")
    job = api.get(f"{web.url}/api/job-progress/{job_id}", timeout=30).json()
    assert "ENOSPC" in job["error"] and "no space left" in job["error"], job
    assert http_server.hits("/big.png"), "the download never started"
    assert not list((small_data_dir / "tmp").glob("*.part"))
    assert shutil.disk_usage(small_data_dir).free > TMPFS_BYTES // 2, "space was not given back"
    assert web.process.poll() is None
    assert requests.get(web.url + "/healthz", timeout=10).status_code == 200
    ready = requests.get(web.url + "/readyz", timeout=30).json()
    assert ready["checks"]["storage:free_space"][0]["status"] == "fail", ready
    assert "ENOSPC" in web.log
