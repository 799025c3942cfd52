"""A worker frozen past its lease (SIGSTOP: a GC pause, a VM freeze) while another finishes its
job: the rescuer resumes from what is stored, and the woken worker's writes are refused.

The gallery lists its images in a different order on every request, as real sources do, so a
rescuer that started over would store more than `max_content` files.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from scraper.jobs import NewJob
from scraper.migrations.manage import init_db
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.conftest import servers_only
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.plugins.processes import Spawn, claims, scraper_env, wait_until

IMAGES = 40
MAX_CONTENT = 12


def gallery(http_server: HTTPTestServer) -> str:
    """A page of IMAGES distinct PNGs, shuffled per request; its URL."""
    for i in range(IMAGES):
        http_server.route(f"/img/{i}.png", make_png(f"frozen/{i}"), "image/png")

    def page(_query: object) -> Reply:
        order = random.sample(range(IMAGES), IMAGES)
        tags = "".join(f'<img src="/img/{i}.png" alt="image {i}">' for i in order)
        return Reply(
            200, f"<html><body>{tags}</body></html>".encode(), {"Content-Type": "text/html"}
        )

    http_server.handle("/gallery.html", page)
    return http_server.url("/gallery.html")


def assets(runtime: Runtime, job_id: str) -> list[tuple[str, str]]:
    with runtime.Session() as s:
        rows = s.execute(select(Asset.url, Asset.sha256).where(Asset.job_id == job_id)).all()
    return [(url, sha) for url, sha in rows]


OPEN_TRANSACTIONS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
    # this database's sessions only: other tests' transactions on the server do not count
    "mysql": "SELECT count(*) FROM information_schema.innodb_trx t "
    "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
    "WHERE p.db = DATABASE() AND t.trx_mysql_thread_id <> CONNECTION_ID()",
}


def freeze_between_transactions(runtime: Runtime, pid: int) -> None:
    """SIGSTOP the process at a moment it has no transaction open (a commit in flight counts).

    Frozen inside a transaction it would hold the job's row lock and block the rescue (a real
    risk, left to the database's idle-transaction timeouts); that is not what this test is about.
    """
    query = text(OPEN_TRANSACTIONS[runtime.engine.dialect.name])

    def frozen_idle() -> bool:
        os.killpg(pid, signal.SIGSTOP)
        with runtime.engine.connect() as conn:
            if not conn.scalar(query):
                return True
        os.killpg(pid, signal.SIGCONT)
        return False

    wait_until(frozen_idle, 30, "a moment the holder has no transaction open")


def log(process: object) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


@pytest.mark.slow
@servers_only
def test_a_frozen_worker_woken_after_a_rescue_writes_nothing(
    db_url: str, spawn: Spawn, http_server: HTTPTestServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.from_env(database_url=db_url, data_dir=data_dir)
    init_db(runtime.engine)
    env = scraper_env(db_url, data_dir, SCRAPER_LEASE_SECONDS="2", SCRAPER_HOST_DELAY="0.25")
    job = runtime.jobs.create(
        NewJob(query=gallery(http_server), max_content=MAX_CONTENT, enabled_sources=("url",))
    )
    holder = spawn("worker", env=env, log_name="holder")
    wait_until(lambda: len(assets(runtime, job.id)) >= 3, 90, "the holder to store 3 files")
    freeze_between_transactions(runtime, holder.pid)
    frozen_with = len(assets(runtime, job.id))

    rescuer = spawn("worker", env=env, log_name="rescuer")
    wait_until(lambda: runtime.store.get(job.id).status == "completed", 120, "the rescuer")
    os.killpg(holder.pid, signal.SIGCONT)
    wait_until(lambda: "no longer ours" in log(holder), 60, "the woken holder to give up")

    stored = assets(runtime, job.id)
    done = runtime.store.get(job.id)
    print(
        f"\nfrozen worker, {runtime.engine.dialect.name}: froze with {frozen_with} files, "
        f"{len(stored)} stored of {MAX_CONTENT}, attempts {done.attempts}"
    )
    assert len(stored) == MAX_CONTENT == done.downloaded
    assert len({url for url, _ in stored}) == len({sha for _, sha in stored}) == MAX_CONTENT
    assert (done.status, done.attempts) == ("completed", 2)
    assert claims([holder.log_path, rescuer.log_path]) == {job.id: 2}  # type: ignore[attr-defined]
    assert f"resumes with {frozen_with} file(s)" in log(rescuer)
    assert f"job {job.id} completed" in log(rescuer) and f"job {job.id} completed" not in log(
        holder
    )
    assert "refused" in log(holder), log(holder)
    with runtime.Session() as s:
        total = s.scalar(select(func.count()).select_from(Asset).where(Asset.job_id == job.id))
    assert total == MAX_CONTENT  # still, now that the holder has given up
    runtime.close()
