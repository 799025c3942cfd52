"""Prometheus metrics: process counters, the scrape-time database collector, the registry."""

from scraper.metrics.process import (
    DOWNLOAD_BYTES,
    DOWNLOADS,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    JOB_DURATION,
    JOB_PERSIST_FAILURES,
    JOBS_CREATED,
    JOBS_FINISHED,
    SELF_HEAL,
)

__all__ = [
    "DOWNLOADS",
    "DOWNLOAD_BYTES",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "JOBS_CREATED",
    "JOBS_FINISHED",
    "JOB_DURATION",
    "JOB_PERSIST_FAILURES",
    "SELF_HEAL",
]
