"""Process counters and histograms: multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set.

prometheus_client picks its file-backed values at import time, so the variable must be set
before this module is first imported (the process manager's environment, not code).
Database-derived gauges are not here: `scraper.metrics.collector` computes them at scrape time.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from scraper.models import FINAL_STATUSES

JOB_PERSIST_FAILURES = Counter(
    "scraper_job_persist_failures",
    "Job writes the database refused, by exception class.",
    ["reason"],
)
JOBS_CREATED = Counter(
    "scraper_jobs_created", "Jobs accepted, by where they were stored.", ["storage"]
)
JOBS_FINISHED = Counter("scraper_jobs_finished", "Jobs that reached a final status.", ["status"])
DOWNLOADS = Counter(
    "scraper_downloads", "Download attempts by source and result.", ["source", "result"]
)
DOWNLOAD_BYTES = Counter("scraper_download_bytes", "Bytes downloaded and stored.", ["source"])
SELF_HEAL = Counter(
    "scraper_self_heal",
    "Fixes the running service applied to itself (SCRAPER_AUTO_HEAL=safe), by action.",
    ["action"],
)
JOB_DURATION = Histogram(
    "scraper_job_duration_seconds",
    "Wall time of a job run, from claim to final status.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
SCHEDULE_RUNS = Counter(
    "scraper_schedule_runs",
    "Attempts to fire a due schedule tick, by result (fired: this process created the job; "
    "already_fired: another process had; paused: paused instead; error: retried later).",
    ["result"],
)
HTTP_REQUESTS = Counter(
    "scraper_http_requests",
    "HTTP requests served, by endpoint template (never the raw path), method and status.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "scraper_http_request_duration_seconds",
    "HTTP request latency, by endpoint template and method.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _initialize_labels() -> None:
    """Create the expected children at 0, so series exist (and `increase()` works) from start."""
    for storage in ("database", "fallback"):
        JOBS_CREATED.labels(storage=storage)
    for status in FINAL_STATUSES:
        JOBS_FINISHED.labels(status=status.value)
    for action in ("migrate", "reconcile", "requeue"):
        SELF_HEAL.labels(action=action)
    for result in ("fired", "already_fired", "paused", "error"):
        SCHEDULE_RUNS.labels(result=result)
    for reason in ("OperationalError", "ProgrammingError", "IntegrityError", "DataError"):
        JOB_PERSIST_FAILURES.labels(reason=reason)


_initialize_labels()
