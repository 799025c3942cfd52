"""The shipped Prometheus files pass promtool, and a real Prometheus scrapes the running app."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ops.smoke import free_port
from scraper.models import JobStatus
from scraper.runtime import Runtime
from scraper.web import create_app
from tests.plugins.observability import run_selftest_jobs, serve_in_thread
from tests.plugins.waiting import wait_until

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
pytestmark = pytest.mark.prometheus


def _run(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_example_config_passes_promtool_check_config(promtool_bin: str) -> None:
    done = _run(promtool_bin, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_pass_promtool_check_rules(promtool_bin: str) -> None:
    done = _run(promtool_bin, "check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rule_unit_tests_pass(promtool_bin: str) -> None:
    done = _run(promtool_bin, "test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def running_prometheus(binary: str, config: Path, workdir: Path) -> Iterator[str]:
    """Run Prometheus on a free 127.0.0.1 port with `config`; yield its base URL."""
    port = free_port()
    with open(workdir / "prometheus.log", "w") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _config(target: str) -> str:
    return (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: scraper\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )


def _query(base: str, expr: str) -> list[dict]:
    response = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


def _scraped(base: str, target: str, count: int) -> bool:
    """Whether prometheus has scraped `target` successfully at least `count` times (False while
    it starts). A scrape may time out on a loaded machine (1 s here); that one is not counted."""
    try:
        result = _query(base, f'sum_over_time(up{{instance="{target}"}}[5m])')
    except requests.RequestException:
        return False
    return bool(result) and float(result[0]["value"][1]) >= count


@pytest.mark.slow
def test_real_prometheus_scrapes_the_app_and_sees_the_database_counts(
    runtime: Runtime, prometheus_bin: str, promtool_bin: str, tmp_path: Path
) -> None:
    run_selftest_jobs(runtime, completed=3, pending=2)
    config = tmp_path / "prometheus.yml"
    with serve_in_thread(create_app({"SCRAPER_RUNTIME": runtime})) as app_url:
        target = app_url.removeprefix("http://")
        config.write_text(_config(target))
        assert _run(promtool_bin, "check", "config", str(config)).returncode == 0
        with running_prometheus(prometheus_bin, config, tmp_path) as base:
            wait_until(lambda: _scraped(base, target, 2), 60, f"2 scrapes of {target}")
            [up] = _query(base, f'max_over_time(up{{instance="{target}"}}[5m])')
            # The last scraped values (a failed scrape after them marks the series stale).
            series = _query(base, "last_over_time(scraper_jobs_in_database[5m])")
    assert up["value"][1] == "1"
    seen = {s["metric"]["status"]: float(s["value"][1]) for s in series}
    expected = {status.value: 0.0 for status in JobStatus}
    expected.update({k: float(v) for k, v in runtime.store.count_by_status().items()})
    assert seen == expected
    assert seen["completed"] == 3 and seen["pending"] == 2
