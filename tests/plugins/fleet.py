"""Several started workers on one data directory, as one host runs them, each with its own
pool as `scraper worker` makes it: for the tests of their election."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from scraper.runtime import Runtime
from scraper.worker import Worker
from tests.plugins.waiting import wait_until


@contextmanager
def idle_host(
    runtime: Runtime, lease_seconds: float, workers: int = 3
) -> Iterator[tuple[list[Runtime], list[Worker]]]:
    """Started workers polling every 50 ms, once they have elected one leader; stopped after."""
    settings = runtime.settings.model_copy(
        update={"poll_interval": 0.05, "lease_seconds": lease_seconds}
    )
    runtimes = [Runtime(settings, pre_ping=False, kept_connections=1) for _ in range(workers)]
    started = [Worker(rt, downloader=None) for rt in runtimes]
    for worker in started:
        worker.start()
    try:
        wait_until(lambda: sum(w.election.leading for w in started) == 1, 5, "one leader")
        yield runtimes, started
    finally:
        for worker in started:
            worker.stop()
        for rt in runtimes:
            rt.close()


def terminate_sessions(runtime: Runtime, application_name: str) -> int:
    """End every session of this database's that `application_name` opened (a worker's
    listening one: a lost notification); how many."""
    with runtime.engine.begin() as conn:
        killed = conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :app"
            ),
            {"app": application_name},
        )
    return int(killed or 0)
