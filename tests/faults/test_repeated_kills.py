"""A worker SIGKILLed mid-download again and again: the job ends once, clean, attempts counted."""

from __future__ import annotations

import hashlib
import os
import signal

import pytest
from sqlalchemy import func, select

from scraper.jobs import NewJob
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.processes import Spawn, scraper_env, wait_until

KILLS = 3
# One dialect per outcome; the rescue backoff is cut to 0.5 s (0.5 + 1 + 2 s, not 5 + 10 + 20).


@pytest.mark.slow
@pytest.mark.parametrize(
    ("db_url", "max_attempts", "outcome"),
    [
        pytest.param("postgresql", KILLS + 1, "completed", marks=pytest.mark.postgres),
        ("sqlite", KILLS, "failed"),
    ],
    indirect=["db_url"],
)
def test_a_job_whose_worker_is_killed_three_times_ends_once_without_leftovers(
    runtime: Runtime, spawn: Spawn, http_server: HTTPTestServer, max_attempts: int, outcome: str
) -> None:
    fast = make_png("kills/fast")
    slow = make_png("kills/slow")
    http_server.route("/fast.png", fast, "image/png")
    http_server.route("/slow.png", slow, "image/png", drip=4.0 / len(slow))
    page = b'<html><body><img src="/fast.png"><img src="/slow.png"></body></html>'
    http_server.route("/gallery.html", page, "text/html")
    job = runtime.jobs.create(
        NewJob(query=http_server.url("/gallery.html"), max_content=5, enabled_sources=("url",))
    )
    env = scraper_env(
        runtime.settings.database_url,
        runtime.settings.data_dir,
        SCRAPER_AUTO_HEAL="off",
        SCRAPER_LEASE_SECONDS="2",
        SCRAPER_MAX_ATTEMPTS=str(max_attempts),
        SCRAPER_RETRY_BACKOFF="0.5",
    )
    tmp = runtime.settings.data_dir / "tmp"

    for kill in range(1, KILLS + 1):
        victim = spawn("worker", env=env, log_name=f"victim{kill}")
        wait_until(lambda k=kill: len(http_server.hits("/slow.png")) >= k, 90, f"download {kill}")
        wait_until(lambda: list(tmp.glob("*.part")), 10, "a partial file while downloading")
        assert runtime.store.get(job.id).attempts == kill
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)

    last = spawn("worker", env=env, log_name="last")
    wait_until(lambda: runtime.store.get(job.id).status == outcome, 120, f"the job {outcome}")
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=30) == 0

    done = runtime.store.get(job.id)
    assert done.attempts == max_attempts if outcome == "completed" else KILLS
    assert not list(tmp.glob("*.part"))
    with runtime.Session() as s:
        rows = s.execute(select(Asset.sha256, func.count()).group_by(Asset.sha256)).all()
    assert {n for _, n in rows} <= {1}, "an asset was recorded twice"
    if outcome == "completed":
        assert done.downloaded == 2
        assert {sha for sha, _ in rows} == {hashlib.sha256(b).hexdigest() for b in (fast, slow)}
    else:
        assert f"attempt {KILLS} of {KILLS}" in (done.error or ""), done.error
        assert len(http_server.hits("/slow.png")) == KILLS, "a failed job was run again"
