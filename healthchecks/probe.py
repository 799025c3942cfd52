"""The write probe: the service's own writes, replayed in transactions that are always rolled back.

A database can pass every read-only check and still refuse the writes the service makes (a
SELECT-only role, a read-only database, a lock, a trigger, an extra NOT NULL column). The
probe makes those writes — a job insert as `JobService.create` does, the worker's claim
update, an asset insert, a heartbeat upsert — with a short lock timeout, rolls each back, and
returns the database's own refusal, classified. Nothing it writes survives: the rows roll
back, the asset carries its own id (no sequence or AUTO_INCREMENT counter advances), and on
SQLite the file is opened `mode=rw` (never created) in a connection of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from healthchecks.refusal import Refusal, classify
from scraper.models import Asset, ScrapeJob, WorkerHeartbeat, claim_values, utcnow

LOCK_TIMEOUT_MS = 1500
PROBE_ASSET_ID = -1  # never a real id: the service's ids come from the sequence, from 1
PROBE_WORKER = "ops-doctor-probe"


@dataclass(frozen=True)
class ProbeStep:
    """One write the service makes, and what the database did with it."""

    name: str
    table: str
    ok: bool
    refusal: Refusal | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "write": self.name,
            "table": self.table,
            "ok": self.ok,
            "refusal": self.refusal.to_json() if self.refusal else None,
            "skipped": self.skipped,
        }


@dataclass
class ProbeReport:
    """Every write tried; `refusal` is the first the database refused (None: all accepted)."""

    steps: list[ProbeStep] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def refusal(self) -> Refusal | None:
        return next((s.refusal for s in self.steps if s.refusal is not None), None)

    @property
    def refused(self) -> list[ProbeStep]:
        return [s for s in self.steps if s.refusal is not None]


Write = Callable[[Connection, dict[str, Any]], None]


def _insert_job(conn: Connection, ids: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(
        insert(ScrapeJob).values(
            id=ids["job"],
            user_id=None,
            job_type="search",
            status="pending",
            progress=0,
            query="q" * 500,  # the longest query the API accepts: a narrowed column fails here
            max_content=1,
            safe_search=True,
            enabled_sources=["selftest"],
            message="queued",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


def _claim_job(conn: Connection, ids: dict[str, Any]) -> None:
    values = claim_values(f"{PROBE_WORKER}:{ids['job'][:8]}", 60, utcnow())
    conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids["job"]).values(**values))


def _insert_asset(conn: Connection, ids: dict[str, Any]) -> None:
    conn.execute(
        insert(Asset).values(
            id=PROBE_ASSET_ID,
            job_id=ids["job"],
            source="selftest",
            url="https://example.org/" + "u" * 2028,
            path="ab/" + "0" * 64 + ".png",
            filename="probe.png",
            sha256="0" * 64,
            size_bytes=1,
            content_type="image/png",
            title="t" * 500,
            created_at=utcnow(),
        )
    )


def _beat(conn: Connection, ids: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(
        insert(WorkerHeartbeat).values(
            id=ids["worker"], hostname="probe", pid=0, started_at=now, last_seen_at=now
        )
    )
    conn.execute(
        update(WorkerHeartbeat)
        .where(WorkerHeartbeat.id == ids["worker"])
        .values(last_seen_at=now, current_jobs=0, jobs_done=0, state="running")
    )


# Each group is one transaction: a later write needs the earlier ones (the asset, its job).
GROUPS: list[list[tuple[str, str, Write]]] = [
    [
        ("insert job", "scrape_jobs", _insert_job),
        ("claim job", "scrape_jobs", _claim_job),
        ("insert asset", "assets", _insert_asset),
    ],
    [("heartbeat upsert", "worker_heartbeats", _beat)],
]


def probe_writes(engine: Engine, url: str | None = None) -> ProbeReport:
    """Make the service's writes against `engine` (SQLite: the file `url` names), roll back."""
    started = time.perf_counter()
    report = ProbeReport()
    ids = {"job": str(uuid.uuid4()), "worker": f"{PROBE_WORKER}:{uuid.uuid4().hex[:12]}"}
    with _probe_engine(engine, url) as target:
        for group in GROUPS:
            report.steps.extend(_run_group(target, group, ids))
    report.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return report


def _run_group(
    engine: Engine, group: list[tuple[str, str, Write]], ids: dict[str, Any]
) -> list[ProbeStep]:
    steps: list[ProbeStep] = []
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                _short_lock_wait(conn)
                for name, table, write in group:
                    if steps and not steps[-1].ok:
                        steps.append(ProbeStep(name, table, False, skipped=steps[-1].name))
                        continue
                    steps.append(_attempt(conn, name, table, write, ids))
            finally:
                trans.rollback()
                _restore_lock_wait(conn)
    except Exception as exc:  # cannot even connect: the connection is the refusal
        if not steps:
            name, table, _ = group[0]
            steps.append(ProbeStep(name, table, False, classify(exc)))
    return steps


def _attempt(
    conn: Connection, name: str, table: str, write: Write, ids: dict[str, Any]
) -> ProbeStep:
    try:
        write(conn, ids)
    except Exception as exc:  # the refusal is the measurement
        return ProbeStep(name, table, False, classify(exc))
    return ProbeStep(name, table, True)


def _short_lock_wait(conn: Connection) -> None:
    """Wait at most LOCK_TIMEOUT_MS for a lock: a held lock is a finding, not a hang."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{LOCK_TIMEOUT_MS * 4}ms'")
    elif dialect == "mysql":
        seconds = max(1, LOCK_TIMEOUT_MS // 1000)
        conn.exec_driver_sql(
            f"SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
        )


def _restore_lock_wait(conn: Connection) -> None:
    if conn.dialect.name == "mysql" and not conn.invalidated:
        try:
            conn.exec_driver_sql(
                "SET SESSION innodb_lock_wait_timeout = DEFAULT, lock_wait_timeout = DEFAULT"
            )
        except Exception:  # a pooled connection in doubt is discarded instead
            conn.invalidate()


@contextmanager
def _probe_engine(engine: Engine, url: str | None) -> Iterator[Engine]:
    """Servers: the engine itself. SQLite: a connection of its own that never creates the file."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield engine  # an in-memory database lives only in the engine's own connection
        return
    probe = create_engine(
        writable_sqlite_url(url or engine.url.render_as_string()), poolclass=NullPool
    )
    event.listen(probe, "connect", _sqlite_probe_pragmas)
    try:
        yield probe
    finally:
        probe.dispose()


def _sqlite_probe_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # as the service's connections have it
    cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
    cursor.close()


def writable_sqlite_url(url: str) -> str:
    """`sqlite:///path` as a `mode=rw` URI: opens for writing, fails rather than create the file.

    A URL that already names a mode (say `mode=ro`) is kept: the probe must see what the
    service sees.
    """
    parsed = make_url(url)
    if "mode" in parsed.query or parsed.database in (None, "", ":memory:"):
        return url
    path = Path(parsed.database or "").absolute()
    return f"sqlite:///file:{path}?mode=rw&uri=true"
