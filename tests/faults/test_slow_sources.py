"""Slow-loris and never-ending sources: the per-file deadline holds in a real worker process,
and a second job still runs meanwhile on the worker's other thread."""

from __future__ import annotations

import signal
import time

import pytest

from scraper.jobs import NewJob
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.plugins.processes import Spawn, scraper_env, wait_until

DEADLINE = 2.0
SLACK = 3.0  # a loaded two-core machine; still far below what an unbounded read would take
PNG = {"Content-Type": "image/png"}
HOSTILE = {
    "/slow-head.png": Reply(body=b"", headers=PNG, drip=0.2, drip_head=True),
    "/slow-body.png": Reply(body=b"\x89PNG" + bytes(400), headers=PNG, drip=0.05),
    "/endless.png": Reply(body=bytes(50_000_000), headers=PNG, drip=0.0005, send_length=False),
}


@pytest.mark.slow
@sqlite_only
def test_dripping_and_endless_sources_fail_at_the_deadline_without_starving_the_worker(
    runtime: Runtime, spawn: Spawn, http_server: HTTPTestServer
) -> None:
    for path, reply in HOSTILE.items():
        http_server.add(path, reply)
    links = "".join(f'<img src="{path}">' for path in HOSTILE)
    http_server.route("/hostile.html", f"<html>{links}</html>".encode(), "text/html")
    hostile = runtime.jobs.create(
        NewJob(query=http_server.url("/hostile.html"), max_content=5, enabled_sources=("url",))
    )
    env = scraper_env(
        runtime.settings.database_url,
        runtime.settings.data_dir,
        SCRAPER_AUTO_HEAL="off",
        SCRAPER_DOWNLOAD_DEADLINE=str(DEADLINE),
        SCRAPER_DOWNLOAD_TIMEOUT=str(DEADLINE),
    )
    worker = spawn("worker", "--concurrency", "2", env=env, log_name="worker")
    wait_until(lambda: http_server.hits("/slow-head.png"), 60, "the first slow download")
    quick = runtime.jobs.create(NewJob(query="meanwhile", max_content=2))

    wait_until(lambda: runtime.store.get(hostile.id).status == "failed", 60, "the hostile job")
    ended = time.monotonic()
    wait_until(lambda: runtime.store.get(quick.id).status == "completed", 30, "the quick job")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0

    starts = [http_server.hits(path)[0].at for path in HOSTILE] + [ended]
    for path, begun, next_begun in zip(HOSTILE, starts, starts[1:], strict=False):
        assert next_begun - begun <= DEADLINE + SLACK, f"{path} held the worker too long"
    failed, done = runtime.store.get(hostile.id), runtime.store.get(quick.id)
    assert "deadline" in (failed.error or ""), failed.error
    assert done.finished_at is not None and failed.finished_at is not None
    assert done.finished_at < failed.finished_at, "the quick job waited for the hostile one"
