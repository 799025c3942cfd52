"""Process-level Prometheus counters and histograms (multiprocess-safe via prometheus_client).

Database-derived gauges are not here: they are computed at scrape time by a collector.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
JOB_DURATION = Histogram(
    "scraper_job_duration_seconds",
    "Wall time of a job run, from claim to final status.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
