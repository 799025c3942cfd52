"""Many worker processes against one database: every job runs exactly once, even through SIGKILL."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper.jobs import NewJob
from scraper.models import Asset
from scraper.runtime import Runtime
from tests.plugins.processes import Spawn, scraper_env

CLAIMED = re.compile(r"job ([0-9a-f-]{36}) claimed by (\S+)")


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def claims(logs: list[Path]) -> Counter[str]:
    return Counter(m.group(1) for log in logs for m in CLAIMED.finditer(log.read_text()))


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
