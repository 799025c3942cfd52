"""Many worker processes against one database: every job runs exactly once, even through SIGKILL."""

from __future__ import annotations

import hashlib
import signal

import pytest
from sqlalchemy import func, select

from scraper.jobs import NewJob
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.processes import CLAIMED, Spawn, claims, kill_and_rescue, scraper_env
from tests.plugins.waiting import wait_until


@pytest.mark.slow
def test_four_worker_processes_run_200_jobs_exactly_once(runtime: Runtime, spawn: Spawn) -> None:
    ids = {runtime.jobs.create(NewJob(query=f"job{i}", max_content=1)).id for i in range(200)}
    env = scraper_env(
        runtime.settings.database_url, runtime.settings.data_dir, SCRAPER_AUTO_HEAL="off"
    )
    workers = [spawn("worker", "--concurrency", "2", env=env, log_name="worker") for _ in range(4)]

    wait_until(lambda: runtime.store.count_by_status() == {"completed": 200}, 240, "200 jobs")
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=30) == 0

    claimed = claims([w.log_path for w in workers])  # type: ignore[attr-defined]
    assert set(claimed) == ids and set(claimed.values()) == {1}
    assert all(j.attempts == 1 for j in runtime.jobs.list(limit=500).jobs)
    busy = sum(1 for w in workers if CLAIMED.search(w.log_path.read_text()))  # type: ignore[attr-defined]
    assert busy >= 2, "the work was not shared between processes"
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 200


@pytest.mark.slow
def test_sigkilled_worker_mid_download_is_finished_by_another_without_leftovers(
    runtime: Runtime, spawn: Spawn, http_server: HTTPTestServer
) -> None:
    images = {f"/img{i}.png": make_png(f"kill/{i}") for i in range(3)}
    for path, body in images.items():
        http_server.route(path, body, "image/png")
    slow = make_png("kill/slow")
    http_server.route("/slow.png", slow, "image/png", drip=3.0 / len(slow))
    links = "".join(f'<img src="{p}">' for p in [*images, "/slow.png"])
    http_server.route("/gallery.html", f"<html><body>{links}</body></html>".encode(), "text/html")
    job = runtime.jobs.create(
        NewJob(query=http_server.url("/gallery.html"), max_content=10, enabled_sources=("url",))
    )
    env = scraper_env(
        runtime.settings.database_url,
        runtime.settings.data_dir,
        SCRAPER_AUTO_HEAL="off",
        SCRAPER_LEASE_SECONDS="2",
    )

    first = spawn("worker", env=env, log_name="first")
    wait_until(lambda: http_server.hits("/slow.png"), 30, "the slow download to start")
    tmp = runtime.settings.data_dir / "tmp"
    wait_until(
        lambda: list(tmp.glob("*.part")), 10, "a partial file while the download is in flight"
    )
    done, second = kill_and_rescue(first, spawn, env, runtime, job.id)
    assert done.attempts == 2 and done.downloaded == 4
    assert not list((runtime.settings.data_dir / "tmp").glob("*.part"))
    with runtime.Session() as s:
        rows = s.execute(select(Asset.sha256, func.count()).group_by(Asset.sha256)).all()
    expected = {hashlib.sha256(b).hexdigest() for b in [*images.values(), slow]}
    assert {sha for sha, _ in rows} == expected and {n for _, n in rows} == {1}
    assert "requeued" in second.log_path.read_text()  # type: ignore[attr-defined]
