"""A job's download pool against real servers on three loopback hosts, on every database:
exactly `max_content` stored, each file once, hosts kept polite, and a cancelled, stopped or
killed job leaving no partial file and no duplicate asset."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper.download import Downloader, DownloadPolicy
from scraper.download.politeness import HostLimiter
from scraper.errors import SourceError
from scraper.jobs import NewJob
from scraper.jobs.record import JobRecord
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources import MediaItem, Source, register
from scraper.sources.selftest import make_png
from scraper.worker import Worker
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.plugins.processes import Spawn, kill_and_rescue, scraper_env
from tests.plugins.waiting import wait_until

PNG = {"Content-Type": "image/png"}


@register
class ListingSource(Source):
    """Test-only: the files listed in the JSON document beside the gallery the query names."""

    name = "pooltest-listing"
    description = "Test-only: /list.json beside the query's page."

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        assert self.downloader is not None
        for url in self.downloader.fetch_json(query.replace("/gallery.html", "/list.json"))[:limit]:
            yield MediaItem(url=url, mime="image/png")


@register
class FailingSource(Source):
    """Test-only: its search fails at the first pull."""

    name = "pooltest-failing"
    description = "Test-only: the API is down."

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        raise SourceError(self.name, "API answered 502")
        yield  # a generator, like the real sources


def gallery(
    hosts: list[HTTPTestServer], bodies: list[bytes], delay: float = 0.02, shown: int | None = None
) -> str:
    """Serve file i on host i % len(hosts) (held `delay` s) and a page linking the first
    `shown` of them (all by default); return the page's URL."""
    urls = []
    for i, body in enumerate(bodies):
        server = hosts[i % len(hosts)]
        server.add(f"/f/{i}.png", Reply(200, body, PNG, delay=delay))
        urls.append(server.url(f"/f/{i}.png"))
    page = "".join(f'<img src="{url}">' for url in urls[:shown])
    hosts[0].route("/gallery.html", f"<html><body>{page}</body></html>".encode(), "text/html")
    return hosts[0].url("/gallery.html")


def listing(hosts: list[HTTPTestServer], files: range) -> None:
    """Serve /list.json beside the gallery: the URLs of the files `files` of `gallery`."""
    urls = [hosts[i % len(hosts)].url(f"/f/{i}.png") for i in files]
    hosts[0].route("/list.json", json.dumps(urls).encode(), "application/json")


def pool_worker(runtime: Runtime, concurrency: int = 8, per_host: int = 2) -> Worker:
    """A worker whose downloads share a limiter of their own (no delay) and a job pool."""
    runtime.settings = runtime.settings.with_overrides(job_concurrency=concurrency)
    policy = DownloadPolicy.from_settings(
        runtime.settings, hosts=HostLimiter(per_host, 0.0), max_retry_after=5.0
    )
    return Worker(runtime, downloader=Downloader(runtime.files, policy))


def url_job(runtime: Runtime, page: str, max_content: int, *extra: str) -> JobRecord:
    sources = ("url", *extra)
    return runtime.jobs.create(NewJob(query=page, max_content=max_content, enabled_sources=sources))


def partials(runtime: Runtime) -> list[Path]:
    return list((runtime.settings.data_dir / "tmp").glob("*.part"))


def asset_counts(runtime: Runtime, job_id: str) -> tuple[int, int, int]:
    """(rows, distinct sha256, distinct url) of the job's assets."""
    with runtime.Session() as s:
        where = Asset.job_id == job_id
        rows = s.scalar(select(func.count()).select_from(Asset).where(where))
        shas = s.scalar(select(func.count(func.distinct(Asset.sha256))).where(where))
        urls = s.scalar(select(func.count(func.distinct(Asset.url))).where(where))
    return rows or 0, shas or 0, urls or 0


def test_a_job_of_60_items_over_3_hosts_stores_exactly_max_content_each_once(
    runtime: Runtime, http_hosts: list[HTTPTestServer]
) -> None:
    # 60 files on 3 hosts: a page links 0-39, a listing has 30-59 (ten URLs in both).
    # Files 2k and 2k+1 (k < 5) have the same bytes and sit on two hosts: they download at the
    # same time, and only one of each pair may be stored. 55 distinct files offered for 50.
    bodies = [make_png(f"pool/{i // 2 if i < 10 else i}") for i in range(60)]
    page = gallery(http_hosts, bodies, shown=40)
    listing(http_hosts, range(30, 60))
    job = url_job(runtime, page, 50, "pooltest-listing")
    pool_worker(runtime).run_once()

    done = runtime.store.get(job.id)
    assert (done.status, done.downloaded) == ("completed", 50), done.error
    assert asset_counts(runtime, job.id) == (50, 50, 50)
    stored = list((runtime.settings.data_dir / "downloads").rglob("*.png"))
    assert len(stored) == 50 and not partials(runtime)
    sources = done.result["sources"]
    assert sum(r["stored"] for r in sources.values()) == 50
    assert sum(r["skipped"].get("duplicate_content", 0) for r in sources.values()) == 5
    bytes_stored = sum(p.stat().st_size for p in stored)
    assert done.bytes_downloaded == sum(r["bytes"] for r in sources.values()) == bytes_stored
    # Polite per host, parallel across hosts.
    assert max(server.in_flight.peak for server in http_hosts) <= 2
    assert http_hosts[0].shared is not None and http_hosts[0].shared.peak > 2


@pytest.mark.slow
def test_a_host_answering_429_retry_after_slows_only_that_host(
    runtime: Runtime, http_hosts: list[HTTPTestServer]
) -> None:
    page = gallery(http_hosts, [make_png(f"busy/{i}") for i in range(30)], delay=0.01)
    busy, *others = http_hosts
    for i in (0, 3):  # the first two files of the busy host: both of its slots
        body = make_png(f"busy/{i}")
        refused = Reply(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "2"})
        busy.add(f"/f/{i}.png", refused, Reply(200, body, PNG))
    job = url_job(runtime, page, max_content=30)
    pool_worker(runtime).run_once()

    assert runtime.store.get(job.id).downloaded == 30
    paused_at = min(seen.at for seen in busy.requests if seen.path.startswith("/f/"))
    later = [s.at for s in busy.requests if s.path.startswith("/f/") and s.at > paused_at + 0.1]
    assert later and min(later) >= paused_at + 1.9, "the busy host was asked again too soon"
    # The other hosts were done long before the busy one's pause ended.
    assert max(s.at for server in others for s in server.requests) < paused_at + 1.5


def test_a_failing_source_does_not_stop_the_others_downloads(
    runtime: Runtime, http_hosts: list[HTTPTestServer]
) -> None:
    page = gallery(http_hosts, [make_png(f"fail/{i}") for i in range(9)])
    job = url_job(runtime, page, 9, "pooltest-failing")
    pool_worker(runtime).run_once()

    done = runtime.store.get(job.id)
    assert (done.status, done.downloaded) == ("completed", 9)
    assert "502" in done.result["sources"]["pooltest-failing"]["error"]


@pytest.mark.parametrize("action", ["cancel", "stop"])
def test_cancel_or_stop_mid_pool_ends_every_download_at_once_leaving_no_partial_file(
    runtime: Runtime, http_hosts: list[HTTPTestServer], action: str
) -> None:
    fast = [make_png(f"mid/{i}") for i in range(3)]
    slow = [make_png(f"mid/slow/{i}") for i in range(6)]
    page = gallery(http_hosts, fast + slow)
    for i, body in enumerate(slow, start=len(fast)):  # dripped over 20 s each
        path = f"/f/{i}.png"
        http_hosts[i % 3].add(path, Reply(200, body, PNG, drip=20.0 / len(body)))
    job = url_job(runtime, page, max_content=20)
    worker = pool_worker(runtime)
    worker.start()
    try:
        wait_until(lambda: len(partials(runtime)) >= 3, 15, "slow downloads in flight")
        began = time.monotonic()
        runtime.jobs.cancel(job.id) if action == "cancel" else worker.request_stop()
        wait_until(lambda: not worker._held, 10, "the worker to let go of the job")
        let_go = time.monotonic() - began
    finally:
        worker.stop()
    assert let_go < 3.0, f"in-flight downloads held the job {let_go:.1f}s"
    final = runtime.store.get(job.id)
    if action == "cancel":
        assert final.status == "cancelled"
    else:  # SIGTERM's path: the job goes back to the queue for another worker
        assert (final.status, final.locked_by, final.attempts) == ("pending", None, 0)
    assert not partials(runtime)
    rows, shas, _urls = asset_counts(runtime, job.id)
    assert rows == shas <= len(fast)


@pytest.mark.slow
def test_a_sigkilled_worker_mid_pool_is_finished_by_another_without_leftovers(
    runtime: Runtime, spawn: Spawn, http_hosts: list[HTTPTestServer]
) -> None:
    fast = [make_png(f"kill/{i}") for i in range(4)]
    slow = [make_png(f"kill/slow/{i}") for i in range(4)]
    page = gallery(http_hosts, fast + slow)
    for i, body in enumerate(slow, start=len(fast)):
        http_hosts[i % 3].add(f"/f/{i}.png", Reply(200, body, PNG, drip=3.0 / len(body)))
    job = url_job(runtime, page, max_content=20)
    env = scraper_env(
        runtime.settings.database_url,
        runtime.settings.data_dir,
        SCRAPER_AUTO_HEAL="off",
        SCRAPER_LEASE_SECONDS="2",
        SCRAPER_HOST_DELAY="0",
        SCRAPER_JOB_CONCURRENCY="8",
    )

    first = spawn("worker", env=env, log_name="first")
    wait_until(lambda: len(partials(runtime)) >= 3, 30, "several slow downloads in flight")
    done, _ = kill_and_rescue(first, spawn, env, runtime, job.id)
    assert (done.attempts, done.downloaded) == (2, 8)
    assert not partials(runtime)
    with runtime.Session() as s:
        rows = s.execute(select(Asset.sha256, func.count()).group_by(Asset.sha256)).all()
    expected = {hashlib.sha256(body).hexdigest() for body in fast + slow}
    assert {sha for sha, _ in rows} == expected and {n for _, n in rows} == {1}
