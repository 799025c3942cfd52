"""The dashboard's banner and health panel: small checks that return data, cached briefly."""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from scraper.heartbeats import list_workers
from scraper.models import Base, utcnow
from scraper.runtime import Runtime


@dataclass(frozen=True)
class SchemaStatus:
    """Whether the live schema matches the models; `in_sync` is None when it was not checked."""

    in_sync: bool | None
    differences: int = 0
    error: str | None = None


@dataclass(frozen=True)
class HealthItem:
    name: str
    status: str  # pass | warn | fail
    output: str


@dataclass(frozen=True)
class SystemStatus:
    """What the banner and the health panel show."""

    fallback_jobs: int
    schema: SchemaStatus
    health: list[HealthItem] = field(default_factory=list)

    @property
    def banner(self) -> list[str]:
        """One sentence per problem a person must act on; empty when all is well."""
        lines = []
        n = self.fallback_jobs
        if n:
            lines.append(
                f"{plural(n, 'job is', 'jobs are')} held in the fallback store because the "
                f"database refused {'it' if n == 1 else 'them'}; nothing runs until reconciled. "
                "Run `ops doctor`."
            )
        if self.schema.in_sync is False:
            lines.append(
                "The database schema is out of sync with the models "
                f"({plural(self.schema.differences, 'difference')}). Run `ops doctor`."
            )
        return lines


def plural(count: int, one: str, many: str | None = None) -> str:
    """`plural(1, "job")` -> "1 job"; `plural(2, "job")` -> "2 jobs"."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def check_schema(engine: Engine) -> SchemaStatus:
    """Ask the ops toolkit's checker; fall back to missing tables and columns if it is absent."""
    try:
        checker: Any = importlib.import_module("ops.schema").check_schema
    except (ImportError, AttributeError):
        checker = None
    try:
        if checker is not None:
            report = checker(engine)
            return SchemaStatus(bool(report.in_sync), len(report.differences))
        missing = _missing_columns(engine)
        return SchemaStatus(not missing, len(missing))
    except Exception as exc:  # a checker failure must not take the dashboard down
        return SchemaStatus(None, 0, f"{type(exc).__name__}: {exc}".splitlines()[0])


def _missing_columns(engine: Engine) -> list[str]:
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    missing: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in tables:
            missing.append(table.name)
            continue
        live = {c["name"] for c in inspector.get_columns(table.name)}
        missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in live]
    return missing


class SchemaCache:
    """`check_schema` at most once per `ttl` seconds: reflection is too slow for every poll."""

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: SchemaStatus | None = None
        self._at = float("-inf")

    def get(self, engine: Engine) -> SchemaStatus:
        with self._lock:
            if self._value is None or time.monotonic() - self._at >= self.ttl:
                self._value = check_schema(engine)
                self._at = time.monotonic()
            return self._value


def _database_item(runtime: Runtime) -> HealthItem:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return HealthItem("database", "fail", f"unreachable: {str(exc).splitlines()[0]}")
    return HealthItem("database", "pass", f"reachable ({runtime.engine.dialect.name})")


def _schema_item(schema: SchemaStatus) -> HealthItem:
    if schema.in_sync is None:
        return HealthItem("schema", "warn", f"not checked: {schema.error}")
    if schema.in_sync:
        return HealthItem("schema", "pass", "in sync with the models")
    found = plural(schema.differences, "difference")
    return HealthItem("schema", "fail", f"{found}; run `ops doctor`")


def _workers_item(runtime: Runtime) -> HealthItem:
    try:
        workers = list_workers(runtime.Session)
    except SQLAlchemyError as exc:
        return HealthItem("workers", "fail", f"cannot read heartbeats: {type(exc).__name__}")
    horizon = utcnow() - timedelta(seconds=max(30, 3 * runtime.settings.lease_seconds))
    fresh = [w for w in workers if w.last_seen_at >= horizon and w.state == "running"]
    if not fresh:
        return HealthItem("workers", "warn", "no worker heartbeat recently; jobs will wait")
    busy = sum(w.current_jobs for w in fresh)
    return HealthItem("workers", "pass", f"{len(fresh)} alive, {plural(busy, 'job')} in hand")


def _storage_item(runtime: Runtime) -> HealthItem:
    try:
        runtime.files.check_writable()
    except OSError as exc:
        return HealthItem("storage", "fail", f"data directory not writable: {exc}")
    return HealthItem("storage", "pass", "data directory writable")


def _fallback_item(count: int) -> HealthItem:
    if count:
        return HealthItem("fallback", "fail", f"{plural(count, 'job')} held outside the database")
    return HealthItem("fallback", "pass", "no jobs held outside the database")


def system_status(runtime: Runtime, schema_cache: SchemaCache) -> SystemStatus:
    """Measure everything the banner and the health panel show."""
    fallback_jobs = len(runtime.fallback)
    schema = schema_cache.get(runtime.engine)
    health = [
        _database_item(runtime),
        _schema_item(schema),
        _workers_item(runtime),
        _storage_item(runtime),
        _fallback_item(fallback_jobs),
    ]
    return SystemStatus(fallback_jobs=fallback_jobs, schema=schema, health=health)
