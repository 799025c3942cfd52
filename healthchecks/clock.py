"""`clock:skew`: do the database, this machine and the workers agree on the time?

A worker whose clock runs ahead stamps heartbeats in the future: a dead worker then looks
alive for as long as its clock is ahead, and its jobs wait. The database's clock is the
reference: leases and heartbeats are compared with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from healthchecks.base import CheckResult, Status, guarded
from scraper.models import WorkerHeartbeat, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from scraper.runtime import Runtime

NAME = "clock:skew"
TOLERANCE_SECONDS = 5.0
DB_NOW = {
    "postgresql": "SELECT CAST(timezone('UTC', now()) AS timestamp)",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def database_now(conn: Connection) -> datetime:
    """The database server's clock, as aware UTC."""
    value = conn.execute(text(DB_NOW.get(conn.dialect.name, DB_NOW["sqlite"]))).scalar()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _future_beats(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(WorkerHeartbeat.id, WorkerHeartbeat.hostname, WorkerHeartbeat.last_seen_at).where(
            WorkerHeartbeat.state != "stopped"
        )
    ).all()
    ahead = []
    for worker, host, seen in rows:
        seen = seen.replace(tzinfo=UTC) if seen.tzinfo is None else seen
        seconds = (seen - now).total_seconds()
        if seconds > TOLERANCE_SECONDS:
            ahead.append({"worker": worker, "host": host, "ahead_seconds": round(seconds, 1)})
    return ahead


@guarded(NAME, unit="s", component_type="system")
def check(runtime: Runtime) -> CheckResult:
    """Warn when this machine or a worker's heartbeats disagree with the database's clock."""
    with runtime.engine.connect() as conn:
        before = utcnow()
        db_now = database_now(conn)
        local = before + (utcnow() - before) / 2
        future = _future_beats(conn, db_now)
    skew = round((local - db_now).total_seconds(), 3)
    evidence: dict[str, Any] = {
        "database_time": db_now.isoformat(),
        "local_time": local.isoformat(),
        "local_minus_database_seconds": skew,
        "heartbeats_from_the_future": future,
    }
    if future:
        hosts = sorted({f["host"] for f in future})
        worst = max(f["ahead_seconds"] for f in future)
        return CheckResult(
            NAME,
            Status.WARN,
            observed=worst,
            unit="s",
            output=(
                f"Worker heartbeats are stamped up to {worst:.0f} s in the future (hosts "
                f"{', '.join(hosts)}): their clocks run ahead of the database's, so a dead "
                "worker there looks alive until its stamp is reached."
            ),
            fix=f"sync the clock on {', '.join(hosts)} (e.g. `timedatectl set-ntp true`)",
            evidence=evidence,
            component_type="system",
        )
    if abs(skew) > TOLERANCE_SECONDS:
        return CheckResult(
            NAME,
            Status.WARN,
            observed=skew,
            unit="s",
            output=(
                f"This machine's clock differs from the database's by {skew:+.1f} s: leases "
                "and heartbeats written from here are judged against the wrong time."
            ),
            fix="sync this machine's clock (e.g. `timedatectl set-ntp true`)",
            evidence=evidence,
            component_type="system",
        )
    return CheckResult(
        NAME,
        Status.PASS,
        observed=skew,
        unit="s",
        output=f"The clocks agree (this machine vs the database: {skew:+.3f} s).",
        evidence=evidence,
        component_type="system",
    )
