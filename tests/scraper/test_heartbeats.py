"""Worker heartbeats from several processes at once: one upsert each, no deadlock."""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
import uuid
from typing import Any

import pytest
from sqlalchemy import event, func, select

from scraper.jobs.workers import HB
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat

PROCESSES = 4
WORKERS_EACH = 50  # new ids, side by side with the other processes': inserts into one gap
BEATS_EACH = 2


def _beating(url: str, suffix: str, go: Any, errors: mp.Queue[str]) -> None:  # type: ignore[type-arg]
    """A process that starts many workers at once and beats for each of them."""
    from scraper.config import Settings

    runtime = Runtime(Settings(database_url=url), pre_ping=False)

    @event.listens_for(runtime.engine, "handle_error")
    def failed(context: Any) -> None:  # a deadlock retried is still a failure here
        errors.put(f"{type(context.original_exception).__name__}: {context.original_exception}")

    try:
        with runtime.engine.connect():
            pass
        go.wait()
        for n in range(BEATS_EACH):
            for w in range(WORKERS_EACH):
                beat(runtime.Session, f"w{w:03d}-{suffix}", 0, n, "running")
    except Exception:  # noqa: BLE001 - reported to the test, which fails with it
        errors.put(traceback.format_exc())
    finally:
        runtime.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
def test_processes_beating_at_once_never_deadlock(runtime: Runtime) -> None:
    """Before the upsert (an UPDATE, then an INSERT when it found no row), MariaDB's gap locks
    made two processes registering workers at once deadlock, and the heartbeat failed."""
    ctx = mp.get_context("spawn")
    errors: mp.Queue[str] = ctx.Queue()  # type: ignore[type-arg]
    url = runtime.settings.database_url
    go = ctx.Event()
    suffixes = [uuid.uuid4().hex[:8] for _ in range(PROCESSES)]
    procs = [ctx.Process(target=_beating, args=(url, x, go, errors)) for x in suffixes]
    for p in procs:
        p.start()
    time.sleep(1.0)  # connected: they start together
    go.set()
    for p in procs:
        p.join(120)
    failures = [errors.get() for _ in range(errors.qsize())]
    assert not failures, failures[0]
    assert all(p.exitcode == 0 for p in procs)
    with runtime.Session() as s:
        rows = s.execute(select(HB.c.id, HB.c.jobs_done)).all()
        assert s.scalar(select(func.count()).select_from(HB)) == PROCESSES * WORKERS_EACH
    assert {done for _id, done in rows} == {BEATS_EACH - 1}  # every row refreshed, not re-added
