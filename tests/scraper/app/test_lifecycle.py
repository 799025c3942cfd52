"""The service lifecycle: SIGTERM stops a worker service cleanly; the periodic helper survives
a failing pass."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.app.lifecycle import Service
from scraper.config import Settings
from scraper.jobs.workers import list_workers
from scraper.models import Base
from scraper.periodic import Periodic
from scraper.runtime import Runtime
from tests.plugins.waiting import wait_until


@pytest.fixture
def sqlite_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """The lifecycle does not differ by dialect: one SQLite database."""
    rt = Runtime(Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", data_dir=tmp_path))
    Base.metadata.create_all(rt.engine)
    yield rt
    rt.close()


@pytest.fixture
def restore_sigterm() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("restore_sigterm")
def test_sigterm_ends_a_worker_service_and_its_worker_says_stopped(
    sqlite_runtime: Runtime,
) -> None:
    service = Service.standalone_worker(sqlite_runtime, concurrency=2, worker_id="w-term")
    service.start()
    assert service.worker is not None and not service.worker.stopping
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    began = time.monotonic()
    service.wait()  # returns once the handler has asked the service to stop
    assert time.monotonic() - began < 10
    assert service.worker.stopping
    [row] = list_workers(sqlite_runtime.Session)
    assert (row.id, row.state) == ("w-term", "stopped")


def test_a_worker_service_without_auto_heal_runs_no_background_thread(
    sqlite_runtime: Runtime,
) -> None:
    settings = sqlite_runtime.settings.model_copy(update={"auto_heal": "off"})
    service = Service.standalone_worker(Runtime(settings), concurrency=1)
    assert service.background == () and service.server is None


def test_periodic_goes_on_after_a_failing_pass() -> None:
    calls: list[int] = []

    def tick() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the database is away")

    periodic = Periodic("test-periodic", 0.01, tick)
    periodic.start()
    try:
        wait_until(lambda: len(calls) >= 3, 5, "three passes")
    finally:
        periodic.stop()
    stopped_at = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped_at
