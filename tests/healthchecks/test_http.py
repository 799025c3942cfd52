"""/healthz and /readyz: application/health+json in the api-health-check draft shape."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from healthchecks import CHECKS
from scraper.config import Settings
from scraper.runtime import Runtime
from scraper.web import create_app
from scraper.worker.heartbeats import beat
from tests.plugins.observability import run_selftest_jobs

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def _down_app(tmp_path: Path) -> Flask:
    return create_app({"SCRAPER_SETTINGS": Settings(database_url=UNREACHABLE, data_dir=tmp_path)})


def test_healthz_is_pass_health_json_without_touching_the_database(tmp_path: Path) -> None:
    response = _down_app(tmp_path).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.content_type == "application/health+json"
    body = response.get_json(force=True)
    assert body["status"] == "pass"
    assert body["checks"]["uptime"][0]["observedUnit"] == "s"


def test_readyz_passes_with_a_live_worker(runtime: Runtime, metrics_client: FlaskClient) -> None:
    beat(runtime.Session, "w-1", 0, 0)
    response = metrics_client.get("/readyz")
    body = response.get_json(force=True)
    assert response.status_code == 200, body
    assert response.content_type == "application/health+json"
    assert body["status"] == "pass"
    assert set(body["checks"]) == set(CHECKS)
    for name, entries in body["checks"].items():
        assert ":" in name and isinstance(entries, list)
        assert entries[0]["status"] == "pass" and "time" in entries[0]
        assert "output" not in entries[0]  # the draft omits output on pass


def test_readyz_warns_but_stays_200_without_a_worker(metrics_client: FlaskClient) -> None:
    response = metrics_client.get("/readyz")
    body = response.get_json(force=True)
    assert response.status_code == 200
    assert body["status"] == "warn"
    heartbeat = body["checks"]["worker:heartbeat"][0]
    assert heartbeat["status"] == "warn" and heartbeat["fix"] == "scraper worker"
    assert heartbeat["output"]


def test_readyz_is_503_fail_when_the_database_is_unreachable(tmp_path: Path) -> None:
    response = _down_app(tmp_path).test_client().get("/readyz")
    body = response.get_json(force=True)
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database:connection"][0]["status"] == "fail"
    assert "Nothing listens on 127.0.0.1:1" in body["output"]


def test_readyz_is_503_while_fallback_jobs_wait(settings: Settings) -> None:
    refused = Runtime(settings)
    try:
        run_selftest_jobs(refused, completed=0, pending=1)
        response = create_app({"SCRAPER_RUNTIME": refused}).test_client().get("/readyz")
        body = response.get_json(force=True)
        assert response.status_code == 503
        assert body["checks"]["fallback:jobs"][0]["fix"] == "ops reconcile"
    finally:
        refused.close()
