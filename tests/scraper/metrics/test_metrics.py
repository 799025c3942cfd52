"""Each metric on /metrics equals what the database (or the process) says, on every dialect."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import text

from scraper.config import Settings
from scraper.jobs.workers import list_workers
from scraper.metrics.collector import ScraperCollector
from scraper.models import JobStatus
from scraper.runtime import Runtime
from scraper.web import create_app
from scraper.worker.heartbeats import beat
from tests.conftest import sqlite_only
from tests.plugins.observability import by_label, parse, run_selftest_jobs, scrape

EVERY_STATUS = {status.value for status in JobStatus}


@pytest.mark.slow
def test_jobs_in_database_equals_database_counts_after_real_jobs(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    run_selftest_jobs(runtime, completed=3, pending=2)
    runtime.store.cancel(runtime.store.list_page(status="pending")[0][0].id)
    samples = scrape(metrics_client, metrics_app)
    expected = {status: 0 for status in EVERY_STATUS} | runtime.store.count_by_status()
    assert by_label(samples, "scraper_jobs_in_database", "status") == expected
    assert expected["completed"] == 3 and expected["pending"] == 1 and expected["cancelled"] == 1


def test_every_status_label_is_emitted_on_an_empty_database(
    metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    samples = scrape(metrics_client, metrics_app)
    assert by_label(samples, "scraper_jobs_in_database", "status") == dict.fromkeys(EVERY_STATUS, 0)
    assert by_label(samples, "scraper_jobs_in_memory", "status") == dict.fromkeys(EVERY_STATUS, 0)
    assert samples[("scraper_database_up", ())] == 1
    assert samples[("scraper_queue_oldest_pending_seconds", ())] == 0


def test_oldest_pending_age_follows_the_oldest_pending_job(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    run_selftest_jobs(runtime, completed=1, pending=2)
    with runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE scrape_jobs SET created_at = :at WHERE status = 'pending'"),
            {"at": "2000-01-01 00:00:00"},
        )
    samples = scrape(metrics_client, metrics_app)
    assert samples[("scraper_queue_oldest_pending_seconds", ())] > 20 * 365 * 86400


def test_expired_leases_and_worker_heartbeats_come_from_the_database(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    run_selftest_jobs(runtime, completed=0, pending=2)
    assert runtime.store.claim("dead-worker", lease_seconds=-5) is not None
    beat(runtime.Session, "alive-worker", 0, 0)
    beat(runtime.Session, "gone-worker", 0, 0, state="stopped")
    samples = scrape(metrics_client, metrics_app)
    assert samples[("scraper_jobs_expired_leases", ())] == 1
    beats = by_label(samples, "scraper_worker_last_heartbeat_timestamp_seconds", "worker")
    assert set(beats) == {"alive-worker"}
    assert abs(beats["alive-worker"] - _last_seen(runtime, "alive-worker")) < 0.01


def _last_seen(runtime: Runtime, worker: str) -> float:
    return next(w.last_seen_at.timestamp() for w in list_workers(runtime.Session) if w.id == worker)


def test_jobs_in_memory_counts_the_fallback_store(settings: Settings) -> None:
    runtime = Runtime(settings)  # no tables: the database refuses, jobs go to the fallback
    try:
        run_selftest_jobs(runtime, completed=0, pending=2)
        app = create_app({"SCRAPER_RUNTIME": runtime})
        samples = scrape(app.test_client(), app)
        memory = by_label(samples, "scraper_jobs_in_memory", "status")
        assert memory == dict.fromkeys(EVERY_STATUS, 0) | runtime.fallback.count_by_status()
        assert memory["pending"] == 2
    finally:
        runtime.close()


def test_process_counters_count_real_jobs(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    before = scrape(metrics_client, metrics_app)
    run_selftest_jobs(runtime, completed=2, pending=1)
    after = scrape(metrics_client, metrics_app)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("scraper_jobs_created_total", storage="database") == 3
    assert delta("scraper_jobs_finished_total", status="completed") == 2
    assert delta("scraper_job_duration_seconds_count") == 2
    assert delta("scraper_downloads_total", source="selftest", result="ok") == 4
    stored = sum(a.size_bytes for a in _assets(runtime))
    assert delta("scraper_download_bytes_total", source="selftest") == stored > 0


def _assets(runtime: Runtime) -> list:
    from sqlalchemy import select

    from scraper.models import Asset

    with runtime.Session() as s:
        return list(s.scalars(select(Asset)))


def test_schema_drift_gauges_name_the_table_and_kind(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    assert scrape(metrics_client, metrics_app)[("scraper_schema_in_sync", ())] == 1
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE assets"))
    samples = scrape(metrics_client, metrics_app)
    assert samples[("scraper_schema_in_sync", ())] == 0
    drift = {k[1]: v for k, v in samples.items() if k[0] == "scraper_schema_drift"}
    assert drift[(("kind", "missing_table"), ("table", "assets"))] == 1


def test_health_check_status_gauges_follow_the_checks(
    metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    samples = scrape(metrics_client, metrics_app)
    health = by_label(samples, "scraper_health_check_status", "check")
    assert health["database:connection"] == 1
    assert health["fallback:jobs"] == 1
    assert health["worker:heartbeat"] == 0.5  # no worker: a warning


def test_unreachable_database_still_answers_the_scrape(tmp_path) -> None:
    settings = Settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", data_dir=tmp_path / "d"
    )
    app = create_app({"SCRAPER_SETTINGS": settings})
    samples = scrape(app.test_client(), app)
    assert samples[("scraper_database_up", ())] == 0
    assert not any(k[0] == "scraper_jobs_in_database" for k in samples)
    assert by_label(samples, "scraper_jobs_in_memory", "status")["pending"] == 0
    assert by_label(samples, "scraper_health_check_status", "check")["database:connection"] == 0


@pytest.mark.slow
def test_a_scrape_storm_reads_the_database_once_per_ttl(runtime: Runtime) -> None:
    now = [0.0]
    collector = ScraperCollector(runtime, ttl=5.0, clock=lambda: now[0])
    reads = []
    original = collector.snapshot._compute
    collector.snapshot._compute = lambda: reads.append(1) or original()  # type: ignore[method-assign]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    run_selftest_jobs(runtime, completed=0, pending=1)
    for _ in range(20):
        generate_latest(registry)
    assert len(reads) == 1
    run_selftest_jobs(runtime, completed=0, pending=1)
    now[0] = 6.0
    samples = parse(generate_latest(registry).decode())
    assert len(reads) == 2
    assert by_label(samples, "scraper_jobs_in_database", "status")["pending"] == 2


@sqlite_only
def test_metrics_need_the_bearer_token_when_one_is_set(runtime: Runtime, tmp_path) -> None:
    guarded = Runtime(runtime.settings.with_overrides(metrics_token="s3cret"))
    app = create_app({"SCRAPER_RUNTIME": guarded})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    guarded.close()


@sqlite_only
def test_metrics_are_open_without_a_token(metrics_client: FlaskClient) -> None:
    response = metrics_client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")


@sqlite_only
def test_http_metrics_use_endpoint_templates_never_raw_paths(
    metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    metrics_client.get("/api/job-progress/11111111-2222-3333-4444-555555555555")
    metrics_client.get("/no/such/page/user-42")
    samples = scrape(metrics_client, metrics_app)
    endpoints = {dict(k[1])["endpoint"] for k in samples if k[0] == "scraper_http_requests_total"}
    assert "/api/job-progress/<job_id>" in endpoints
    assert "<unmatched>" in endpoints
    assert not any("1111" in e or "user-42" in e for e in endpoints)
    latency = [k for k in samples if k[0] == "scraper_http_request_duration_seconds_count"]
    assert latency


def test_spec_metric_names_are_all_exposed(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    run_selftest_jobs(runtime, completed=1, pending=0)
    beat(runtime.Session, "w", 0, 0)
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE assets"))
    text_out = metrics_client.get("/metrics").get_data(as_text=True)
    for name in (
        "scraper_jobs_in_database",
        "scraper_jobs_in_memory",
        "scraper_job_persist_failures_total",
        "scraper_jobs_created_total",
        "scraper_jobs_finished_total",
        "scraper_downloads_total",
        "scraper_download_bytes_total",
        "scraper_job_duration_seconds",
        "scraper_queue_oldest_pending_seconds",
        "scraper_schema_drift",
        "scraper_schema_in_sync",
        "scraper_worker_last_heartbeat_timestamp_seconds",
        "scraper_health_check_status",
    ):
        assert f"\n{name}" in text_out, name
