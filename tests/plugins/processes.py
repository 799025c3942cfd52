"""The `spawn` fixture: real `scraper` subprocesses (workers, servers), always reaped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scraper.jobs.record import JobRecord
from scraper.runtime import Runtime

# Re-exported: the fault tests import the one wait helper from here.
from tests.plugins.waiting import wait_until as wait_until

Spawn = Callable[..., subprocess.Popen[bytes]]
CLAIMED = re.compile(r"job ([0-9a-f-]{36}) claimed by (\S+)")


def claims(logs: list[Path]) -> Counter[str]:
    """How many times each job id was claimed, from the workers' log files."""
    return Counter(m.group(1) for log in logs for m in CLAIMED.finditer(log.read_text()))


def scraper_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process of the service under test."""
    env = dict(os.environ)
    env.update(
        SCRAPER_DATABASE_URL=database_url,
        SCRAPER_DATA_DIR=str(data_dir),
        SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
        SCRAPER_POLL_INTERVAL="0.1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def kill_and_rescue(
    first: subprocess.Popen[bytes], spawn: Spawn, env: dict[str, str], runtime: Runtime, job_id: str
) -> tuple[JobRecord, subprocess.Popen[bytes]]:
    """SIGKILL `first` mid-job, let a second worker finish the job, stop it; the job, the second."""
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = spawn("worker", env=env, log_name="second")
    wait_until(lambda: runtime.store.get(job_id).status == "completed", 60, "the rescue")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    return runtime.store.get(job_id), second


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start `python -m scraper.cli ARGS...` with its output in a log file; kill it at teardown."""
    children: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str], log_name: str = "proc") -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{log_name}-{len(children)}.log", "wb")  # noqa: SIM115
        child = subprocess.Popen(
            [sys.executable, "-m", "scraper.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.log_path = Path(log.name)  # type: ignore[attr-defined]
        log.close()
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
