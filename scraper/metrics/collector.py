"""The scrape-time collector: gauges read from the database, the fallback store and the checks.

Every value is cached for a few seconds (the schema comparison for longer), so a scrape storm
costs one round of indexed queries per TTL. A failing database never fails the scrape: it
shows as `scraper_database_up 0` and the database gauges are left out rather than made up.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthchecks import CheckResult
from healthchecks.monitor import monitor_for
from scraper.errors import one_line
from scraper.jobs.queries import DatabaseSnapshot, read_snapshot
from scraper.metrics.cache import TTLCache
from scraper.migrations.manage import check_schema
from scraper.models import JobStatus
from scraper.runtime import Runtime
from scraper.schedules.store import next_runs

log = logging.getLogger(__name__)

STATUS_VALUES = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


@dataclass(frozen=True)
class Outcome:
    """A cached computation: its value, or the error that stopped it."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _attempt(compute: Callable[[], Any], what: str) -> Callable[[], Outcome]:
    def run() -> Outcome:
        try:
            return Outcome(value=compute())
        except Exception as exc:  # a scrape must answer whatever the database does
            log.warning("metrics: cannot read %s: %s", what, exc)
            return Outcome(error=one_line(exc, kind=True))

    return run


class ScraperCollector(Collector):
    """Yield the database, fallback, schema and health gauges of one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        ttl: float = 5.0,
        schema_ttl: float = 30.0,
        checks_ttl: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.snapshot = TTLCache(_attempt(self._read_snapshot, "jobs"), ttl, clock)
        self.schema = TTLCache(_attempt(self._read_schema, "schema"), schema_ttl, clock)
        self.checks = TTLCache(_attempt(self._read_checks, "health checks"), checks_ttl, clock)
        self.schedules = TTLCache(_attempt(self._read_schedules, "schedules"), ttl, clock)

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: registering must not query the database."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """Build every family from the cached reads."""
        snapshot = self.snapshot.get()
        yield _gauge("scraper_database_up", "1 if the last database read worked.", snapshot.ok)
        if snapshot.value is not None:
            yield from _database_families(snapshot.value)
            yield from _schedule_families(self.schedules.get())
        yield self._memory_family()
        yield self._quarantine_family()
        if snapshot.value is not None:
            yield from _schema_families(self.schema.get())
        yield from _health_families(self.checks.get())

    def clear(self) -> None:
        """Drop every cached value (tests; after a known change)."""
        for cache in (self.snapshot, self.schema, self.checks, self.schedules):
            cache.clear()

    def _read_snapshot(self) -> DatabaseSnapshot:
        return read_snapshot(self.runtime.Session)

    def _read_schema(self) -> Any:
        return check_schema(self.runtime.engine)

    def _read_schedules(self) -> dict[int, Any]:
        return next_runs(self.runtime.Session)

    def _read_checks(self) -> list[CheckResult]:
        return monitor_for(self.runtime).results()

    def _memory_family(self) -> Metric:
        family = GaugeMetricFamily(
            "scraper_jobs_in_memory",
            "Jobs held outside the database (fallback journal), by status.",
            labels=["status"],
        )
        counts = {status.value: 0 for status in JobStatus}
        try:
            counts.update(self.runtime.fallback.count_by_status())
        except Exception as exc:  # an unreadable journal must not break the scrape
            log.warning("metrics: cannot read the fallback journal: %s", exc)
        for status, count in sorted(counts.items()):
            family.add_metric([status], count)
        return family

    def _quarantine_family(self) -> Metric:
        try:
            count = len(self.runtime.fallback.quarantined())
        except Exception as exc:  # an unreadable journal must not break the scrape
            log.warning("metrics: cannot read the fallback journal: %s", exc)
            count = 0
        return _gauge(
            "scraper_jobs_quarantined",
            "Held jobs set aside after the database refused them repeatedly for the same reason.",
            count,
        )


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _database_families(snap: DatabaseSnapshot) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "scraper_jobs_in_database",
        "Jobs in the database, by status (exact up to 10,000, the planner's estimate beyond).",
        labels=["status"],
    )
    for status, count in sorted(snap.status_counts().items()):
        jobs.add_metric([status], count)
    yield jobs
    yield _gauge(
        "scraper_queue_oldest_pending_seconds",
        "Age of the oldest pending job in the database (0 when none).",
        snap.oldest_pending_seconds,
    )
    yield _gauge(
        "scraper_jobs_expired_leases",
        "Running jobs whose worker lease has expired (a dead or stuck worker).",
        snap.expired_leases,
    )
    beats = GaugeMetricFamily(
        "scraper_worker_last_heartbeat_timestamp_seconds",
        "Unix time of each running worker's last heartbeat (workers seen in the last hour).",
        labels=["worker"],
    )
    for worker in snap.workers:
        if worker.state != "stopped":
            beats.add_metric([worker.id], worker.last_seen_at.timestamp())
    yield beats


def _schedule_families(outcome: Outcome) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "scraper_schedule_next_run_timestamp_seconds",
        "Unix time of each unpaused schedule's next tick.",
        labels=["schedule"],
    )
    for schedule_id, at in sorted((outcome.value or {}).items()):
        family.add_metric([str(schedule_id)], at.timestamp())
    yield family


def _schema_families(outcome: Outcome) -> Iterator[Metric]:
    if outcome.value is None:
        return
    report = outcome.value
    yield _gauge(
        "scraper_schema_in_sync",
        "1 if the live schema matches the models at the last check, else 0.",
        bool(report.in_sync),
    )
    drift = GaugeMetricFamily(
        "scraper_schema_drift",
        "Schema differences found at the last check, by table and kind.",
        labels=["table", "kind"],
    )
    found = Counter((str(d.table), str(d.kind)) for d in report.differences)
    for (table, kind), count in sorted(found.items()):
        drift.add_metric([table, kind], count)
    yield drift


def _health_families(outcome: Outcome) -> Iterator[Metric]:
    if outcome.value is None:
        return
    family = GaugeMetricFamily(
        "scraper_health_check_status",
        "Health check results: 1 pass, 0.5 warn, 0 fail.",
        labels=["check"],
    )
    for result in outcome.value:
        family.add_metric([result.name], STATUS_VALUES[str(result.status)])
    yield family
