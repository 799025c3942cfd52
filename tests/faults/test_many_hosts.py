"""Several machines for real: a web host and two worker hosts, each its own network namespace
with its own empty data directory, sharing only a PostgreSQL and a SeaweedFS on the bridge.

50 jobs (the `url` source against a fixture server on the bridge). One worker host is killed
whole mid-job: its jobs finish on the other. A replacement host joins; then the other worker
host is cut off the network past its lease and reconnected: its jobs are rescued and finished
by the replacement, its late writes are refused, nothing is stored twice, and every file is
served by the web host from the bucket.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from ops.smoke import wait_ready
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.migrations.manage import init_db
from scraper.models import Asset, JobStatus, ScrapeJob
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.netns import Host, Lab
from tests.plugins.pgcluster import postgres_cluster
from tests.plugins.processes import scraper_env, wait_until
from tests.plugins.seaweedfs import SeaweedFS, start_seaweedfs

JOBS = 50
BATCH = JOBS // 2
SLOW_SECONDS = 3.0
LEASE = 3
PREFIX = "lab"
CLAIMED = re.compile(r"job ([0-9a-f-]{36}) claimed by (\S+)")
COMPLETED = re.compile(r"job ([0-9a-f-]{36}) completed")
NOT_OURS = re.compile(r"job ([0-9a-f-]{36}) no longer ours")
UPLOADED = re.compile(r"uploaded (downloads/\S+) \(")
REQUEUED = re.compile(r"job ([0-9a-f-]{36}) requeued")
# Lease-fenced asset inserts (the fencing of worker writes) log each refusal like this.
ASSET_REFUSED = re.compile(r"asset write refused: job ([0-9a-f-]{36})")


@dataclass
class Cluster:
    """The lab's hosts, shared services and the test's own view of the database."""

    lab: Lab
    root: Path
    runtime: Runtime
    weed: SeaweedFS
    bucket: str
    files: HTTPTestServer
    env: dict[str, str]
    web_url: str = ""
    session: requests.Session = field(default_factory=requests.Session)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, host: Host, name: str, *args: str) -> None:
        """Run `scraper ARGS` on `host` with a fresh, empty data directory of its own."""
        data = self.root / f"data-{name}"
        data.mkdir()
        self.logs[name] = self.root / f"{name}.log"
        env = {**self.env, "SCRAPER_DATA_DIR": str(data)}
        host.spawn(list(args), env, self.logs[name])

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def held_by(self, worker: str) -> set[str]:
        """Ids of the running jobs this worker holds (from the database)."""
        with self.runtime.Session() as s:
            rows = s.scalars(
                select(ScrapeJob.id).where(
                    ScrapeJob.status == JobStatus.RUNNING.value, ScrapeJob.locked_by == worker
                )
            )
            return set(rows)

    def completed(self) -> int:
        with self.runtime.Session() as s:
            query = select(func.count()).where(ScrapeJob.status == JobStatus.COMPLETED.value)
            return s.scalar(query) or 0

    def submit(self, n: int) -> str:
        body = {"query": self.files.url(f"/g/{n}.html"), "max_content": 3}
        body["enabled_sources"] = ["url"]
        reply = self.session.post(f"{self.web_url}/api/comprehensive-search", json=body)
        assert reply.status_code == 201, reply.text
        job_id: str = reply.json()["job_id"]
        return job_id


def serve_gallery(files: HTTPTestServer, slow: set[int]) -> None:
    """Job n's page shows its own a and b images and one image every page shares."""
    files.route("/i/shared.png", make_png("hosts/shared"))
    for n in range(JOBS):
        page = f'<img src="/i/{n}-a.png"><img src="/i/{n}-b.png"><img src="/i/shared.png">'
        files.route(f"/g/{n}.html", page.encode(), "text/html")
        files.route(f"/i/{n}-a.png", make_png(f"hosts/{n}/a"))
        b = make_png(f"hosts/{n}/b")
        files.route(f"/i/{n}-b.png", b, drip=SLOW_SECONDS / len(b) if n in slow else 0.0)


def found(pattern: re.Pattern[str], text: str) -> set[str]:
    return {m.group(1) for m in pattern.finditer(text)}


@contextmanager
def cluster(lab: Lab, root: Path) -> Iterator[Cluster]:
    """PostgreSQL and SeaweedFS on the bridge, an initialized database, a fixture server."""
    with postgres_cluster(f"127.0.0.1,{lab.gateway}", lab.network) as pg:
        (root / "weed").mkdir()
        weed = start_seaweedfs(root / "weed", lab.gateway)
        files = HTTPTestServer(lab.gateway)
        runtime = Runtime(Settings(database_url=pg.url, data_dir=root / "test-data"))
        try:
            init_db(runtime.engine)
            bucket = weed.bucket()
            url = pg.url.replace("127.0.0.1", lab.gateway)
            env = scraper_env(url, root, **weed.env())
            env.update(
                SCRAPER_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
                SCRAPER_AUTO_HEAL="off",
                SCRAPER_LEASE_SECONDS=str(LEASE),
                SCRAPER_MAX_ATTEMPTS="5",
                SCRAPER_HOST_DELAY="0",
                SCRAPER_HOST_CONCURRENCY="16",
            )
            yield Cluster(lab, root, runtime, weed, bucket, files, env)
        finally:
            lab.destroy()  # the hosts first: nothing may still write while services stop
            files.close()
            runtime.close()
            weed.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_web_and_worker_hosts_share_only_postgres_and_the_object_store(
    netns_lab: Lab, tmp_path: Path
) -> None:
    started = time.monotonic()
    web, w1, w2 = netns_lab.host("web"), netns_lab.host("w1"), netns_lab.host("w2")
    slow = {0, 1, 2, 3, BATCH, BATCH + 1, BATCH + 2, BATCH + 3}
    with cluster(netns_lab, tmp_path) as c:
        serve_gallery(c.files, slow)
        create_user(c.runtime.Session, "ops", "hosts-password", admin=True)
        c.session.headers["Authorization"] = f"Bearer {create_token(c.runtime.Session, 'ops')}"
        c.start(web, "web", "serve", "--no-worker", "--host", web.address, "--port", "8000")
        c.web_url = f"http://{web.address}:8000"
        wait_ready(c.web_url, web.processes[0], 60, c.logs["web"])
        c.start(w1, "w1", "worker", "--concurrency", "3", "--name", "w1")
        c.start(w2, "w2", "worker", "--concurrency", "3", "--name", "w2")
        jobs = [c.submit(n) for n in range(BATCH)]

        # 1. A worker host dies whole in the middle of a slow download.
        def w1_mid_download() -> bool:
            # held in the database *and* logged: the claim commits a moment before its log line
            held = c.held_by("w1") & found(CLAIMED, c.log("w1"))
            slow_ids = {jobs[n] for n in slow if n < BATCH}
            return bool(held & slow_ids) and bool(c.files.hits(f"/i/{sorted(slow)[0]}-b.png"))

        wait_until(w1_mid_download, 60, "w1 to hold a job mid-download")
        w1.kill()
        # What w1 held when it died, from the database: its log can name a job whose completing
        # write committed just before the kill, ahead of its "completed" line (seen once). A
        # statement sent just before the kill may still be running on the server: let it end
        # (well inside the lease, so nobody has rescued yet).
        time.sleep(0.3)
        rescued = c.held_by("w1")
        assert rescued, "w1 held no job when it died"
        wait_until(lambda: c.completed() == BATCH, 90, "the first 25 jobs to complete on w2")
        assert rescued <= found(CLAIMED, c.log("w2")) & found(COMPLETED, c.log("w2"))

        # 2. A replacement host joins; the other worker host is cut off past its lease.
        c.start(w1, "w1b", "worker", "--concurrency", "3", "--name", "w1b")
        jobs += [c.submit(n) for n in range(BATCH, JOBS)]
        slow_b = {jobs[n] for n in slow if n >= BATCH}
        wait_until(lambda: c.held_by("w2") & slow_b, 60, "w2 to hold a slow job")
        w2.cut()
        zombie = c.held_by("w2")
        taken_over = lambda: zombie <= found(CLAIMED, c.log("w1b"))  # noqa: E731
        wait_until(taken_over, 180, "w1b to take over w2's jobs")
        w2.reconnect()
        wait_until(lambda: c.completed() == JOBS, 90, "all 50 jobs to complete")
        # w2 retries a held final write after its backoff (up to 30 s) and the reconnect budget
        # of each try (30 s): it notices on its next try, which may be a minute away
        wait_until(lambda: zombie <= found(NOT_OURS, c.log("w2")), 150, "w2 to notice")
        assert not zombie & found(COMPLETED, c.log("w2")), "a zombie completed a job"

        # 3. Every file is served by the web host; nothing is stored twice.
        with c.runtime.Session() as s:
            assets = s.execute(select(Asset.id, Asset.sha256, Asset.job_id)).all()
        assert len(assets) == JOBS * 3
        assert len({(job, sha) for _, sha, job in assets}) == len(assets)
        served = 0
        for asset_id, sha, _job in assets:
            reply = c.session.get(f"{c.web_url}/api/assets/{asset_id}/file", timeout=10)
            assert reply.status_code == 200, reply.text
            assert hashlib.sha256(reply.content).hexdigest() == sha
            served += 1
        digests = {sha for _, sha, _ in assets}
        # a worker's storage probe (written and deleted every few seconds) may be in flight
        listed = [o for o in c.weed.object_keys(c.bucket) if "/.probe-" not in o]
        claim_prefix = f"{PREFIX}/claims/"
        objects = [o for o in listed if not o.startswith(claim_prefix)]
        assert sorted(objects) == sorted(f"{PREFIX}/downloads/{d[:2]}/{d}.png" for d in digests)
        # a host killed or cut off between reusing a file and its release leaves its claim
        # object (it expires after CLAIM_SECONDS); a live host releases every claim it made
        left_claims = {
            o.removeprefix(claim_prefix).rsplit("/", 1)[0]
            for o in listed
            if o.startswith(claim_prefix)
        }
        assert not list(tmp_path.glob("data-*/downloads")), "a host kept files on its disk"
        worker_logs = "".join(c.log(name) for name in ("w1", "w2", "w1b"))
        uploads = Counter(UPLOADED.findall(worker_logs))
        shared = hashlib.sha256(make_png("hosts/shared")).hexdigest()
        zombie_keys = {f"downloads/{sha[:2]}/{sha}.png" for _, sha, job in assets if job in zombie}
        killed_keys = {f"downloads/{sha[:2]}/{sha}.png" for _, sha, job in assets if job in rescued}
        twice = {key for key, n in uploads.items() if n > 1}
        shared_key = f"downloads/{shared[:2]}/{shared}.png"
        assert left_claims <= zombie_keys | killed_keys | {shared_key}, left_claims
        stored = {o.removeprefix(f"{PREFIX}/") for o in objects}
        assert set(uploads) <= stored
        # the killed host may die between an upload and its log line; the rescuer then finds
        # the object present and does not upload it again: only its jobs' files may be unlogged
        assert stored - set(uploads) <= killed_keys, stored - set(uploads)
        assert twice <= zombie_keys | {shared_key}, twice
        refused = len(NOT_OURS.findall(c.log("w2"))) + len(ASSET_REFUSED.findall(c.log("w2")))
        assert found(ASSET_REFUSED, c.log("w2")) <= zombie, "a live claim's write was refused"
        requeued = len(REQUEUED.findall(worker_logs))
        print(
            f"\nmany hosts: {JOBS} jobs, {served} files served by the web host, "
            f"{len(objects)} objects ({sum(uploads.values())} uploads), {requeued} rescues "
            f"({len(rescued)} jobs of the killed host, {len(zombie)} of the cut-off host), "
            f"{refused} refused zombie writes, {time.monotonic() - started:.1f}s"
        )
    shutil.rmtree(tmp_path / "weed", ignore_errors=True)
