"""Fixtures for metrics, health-check and Prometheus tests: an app, jobs that really ran,
a waitress server in a thread, and the Debian prometheus/promtool binaries."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from scraper.jobs import NewJob
from scraper.runtime import Runtime
from scraper.web import create_app
from scraper.web.metrics import collector_of
from scraper.worker import Worker
from tests.conftest import missing_service
from tests.plugins.waiting import wait_until
from tests.plugins.waitress_thread import waitress_in_thread


def run_selftest_jobs(runtime: Runtime, completed: int, pending: int = 0) -> list[str]:
    """Create `completed + pending` selftest jobs and really run `completed` of them."""
    ids = [runtime.jobs.create(NewJob(query=f"q{n}", max_content=2)).id for n in range(completed)]
    worker = Worker(runtime, downloader=None, worker_id="test-worker")
    for _ in range(completed):
        assert worker.run_once()
    ids += [runtime.jobs.create(NewJob(query=f"p{n}", max_content=2)).id for n in range(pending)]
    return ids


def scrape(client: FlaskClient, app: Flask | None = None, **headers: str) -> dict[tuple, float]:
    """GET /metrics (cache cleared first) and return {(name, sorted label items): value}."""
    if app is not None:
        collector_of(app).clear()
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[tuple, float]:
    """Prometheus text → {(sample name, sorted label pairs): value}."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def by_label(samples: dict[tuple, float], name: str, label: str) -> dict[str, float]:
    """The samples of one metric keyed by one label's value."""
    return {dict(k[1])[label]: v for k, v in samples.items() if k[0] == name}


@pytest.fixture
def metrics_app(runtime: Runtime) -> Flask:
    """The web app over the test runtime."""
    app = create_app({"SCRAPER_RUNTIME": runtime, "TESTING": True})
    return app


@pytest.fixture
def metrics_client(metrics_app: Flask) -> FlaskClient:
    return metrics_app.test_client()


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


@contextlib.contextmanager
def serve_in_thread(app: Flask) -> Iterator[str]:
    """Serve `app` with waitress on a free 127.0.0.1 port; yield its base URL."""
    with waitress_in_thread(app, threads=4) as server:
        base = f"http://127.0.0.1:{server.effective_port}"
        wait_until(lambda: _answers(f"{base}/healthz"), 10, f"{base} to answer")
        yield base


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if path is None:
        missing_service(f"{name} is not installed (Debian package prometheus)")
    assert path is not None
    return path


@pytest.fixture
def prometheus_bin() -> str:
    return _binary("prometheus")


@pytest.fixture
def promtool_bin() -> str:
    return _binary("promtool")
