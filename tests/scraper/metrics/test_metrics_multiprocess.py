"""Multiprocess mode: counters from several real processes add up in one scrape."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ops.smoke import free_port
from scraper.jobs import NewJob
from scraper.models import Base
from scraper.runtime import Runtime
from tests.plugins.observability import by_label, parse
from tests.plugins.processes import scraper_env
from tests.plugins.waiting import wait_until

RUN_JOBS = """
import sys
from scraper.config import Settings
from scraper.jobs import NewJob
from scraper.metrics.exporter import mark_process_dead
from scraper.runtime import Runtime
from scraper.worker import Worker

runtime = Runtime(Settings(database_url=sys.argv[1], data_dir=sys.argv[2]))
for n in range(2):
    runtime.jobs.create(NewJob(query=f"mp{n}", max_content=2))
worker = Worker(runtime, downloader=None, worker_id=sys.argv[3])
done = 0
while done < 2 and worker.run_once():
    done += 1
mark_process_dead()
runtime.close()
"""

SCRAPE = """
import sys
from scraper.config import Settings
from scraper.runtime import Runtime
from scraper.web import create_app

runtime = Runtime(Settings(database_url=sys.argv[1], data_dir=sys.argv[2]))
app = create_app({"SCRAPER_RUNTIME": runtime})
sys.stdout.write(app.test_client().get("/metrics").get_data(as_text=True))
"""


def _python(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_two_processes_increment_and_one_scrape_sums(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'mp.db'}"
    data_dir = str(tmp_path / "data")
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    runtime = Runtime.from_env(database_url=db_url, data_dir=data_dir)
    Base.metadata.create_all(runtime.engine)
    runtime.close()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_JOBS, db_url, data_dir, f"mp-worker-{n}"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for proc in workers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    samples = parse(_python(SCRAPE, env, db_url, data_dir))
    assert by_label(samples, "scraper_jobs_created_total", "storage")["database"] == 4
    assert by_label(samples, "scraper_jobs_finished_total", "status")["completed"] == 4
    assert samples[("scraper_job_duration_seconds_count", ())] == 4
    assert by_label(samples, "scraper_jobs_in_database", "status")["completed"] == 4
    assert len(list(prom_dir.glob("counter_*.db"))) >= 2


@pytest.mark.slow
def test_worker_metrics_port_serves_its_counters_and_json_logs(
    sqlite_url: str, data_dir: Path, spawn, tmp_path: Path
) -> None:
    runtime = Runtime.from_env(database_url=sqlite_url, data_dir=data_dir)
    Base.metadata.create_all(runtime.engine)
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    [job_id] = [runtime.jobs.create(NewJob(query="exported", max_content=2)).id]
    port = free_port()
    env = scraper_env(
        runtime.settings.database_url,
        runtime.settings.data_dir,
        PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
        SCRAPER_LOG_FORMAT="json",
    )
    child = spawn("worker", "--metrics-port", str(port), env=env, log_name="worker")
    samples = _scrape_until(f"http://127.0.0.1:{port}/metrics", child)
    assert by_label(samples, "scraper_jobs_finished_total", "status")["completed"] == 1
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=60)
    lines = [json.loads(line) for line in child.log_path.read_text().splitlines() if line]
    assert any(entry.get("job_id") == job_id for entry in lines)
    runtime.close()


def _scrape_until(url: str, child: subprocess.Popen, timeout: float = 60.0) -> dict:
    def finished() -> dict | None:
        assert child.poll() is None, child.log_path.read_text()  # type: ignore[attr-defined]
        try:
            samples = parse(requests.get(url, timeout=5).text)
        except requests.ConnectionError:
            return None
        done = by_label(samples, "scraper_jobs_finished_total", "status").get("completed")
        return samples if done else None

    return wait_until(finished, timeout, f"a finished job on {url}")
