"""`database:connection`: can this process open a connection and run a query?"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import text

from healthchecks.base import CheckResult, Fix, Status, guarded
from healthchecks.refusal import RefusalKind, classify
from healthchecks.remedy import missing_database
from healthchecks.remedy.connect import connection_fault
from ops.schema import safe_url
from scraper.errors import one_line

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "database:connection"
SLOW_MS = 1000.0
# SQLite answers `SELECT 1` without reading the file: read its schema to know it is a database.
PING = {"sqlite": "SELECT count(*) FROM sqlite_master"}


def _safe_url(runtime: Runtime) -> str:
    """The URL as configured (not a read-only engine's `file:…?mode=ro` form), no password."""
    try:
        return safe_url(runtime.settings.database_url)
    except Exception:  # a URL SQLAlchemy cannot parse: the engine's own rendering
        return safe_url(runtime.engine)


def _unreachable(runtime: Runtime, exc: Exception) -> CheckResult:
    """Fail with the driver's error, classified; a missing database gets its `createdb`."""
    refusal = classify(exc)
    url = _safe_url(runtime)
    output = f"The database at {url} is unreachable: {one_line(exc, kind=True)}."
    fix = Fix("start the database server or correct SCRAPER_DATABASE_URL, then run `ops doctor`")
    evidence: dict[str, object] = {"url": url, "error": one_line(exc, kind=True)}
    why = (
        missing_database(runtime.engine)
        if refusal.kind is RefusalKind.MISSING_DATABASE
        else connection_fault(refusal, runtime.engine)
    )
    if why is not None:
        output, fix = why.summary, why.fix
        evidence.update(why.evidence)
    return CheckResult(
        NAME,
        Status.FAIL,
        observed=None,
        unit="ms",
        output=output,
        fix=fix,
        evidence=evidence,
        component_type="datastore",
        error=refusal,
    )


@guarded(NAME, unit="ms", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Run `SELECT 1`; fail with the driver's error when the database cannot be reached."""
    started = time.perf_counter()
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text(PING.get(conn.dialect.name, "SELECT 1")))
    except Exception as exc:
        return _unreachable(runtime, exc)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    slow = elapsed > SLOW_MS
    return CheckResult(
        NAME,
        Status.WARN if slow else Status.PASS,
        observed=elapsed,
        unit="ms",
        output=f"The database answered in {elapsed} ms, slower than {SLOW_MS:.0f} ms."
        if slow
        else f"The database answered in {elapsed} ms.",
        fix="look at the database server's load and network" if slow else None,
        evidence={"url": _safe_url(runtime)},
        component_type="datastore",
    )
