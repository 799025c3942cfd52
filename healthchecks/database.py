"""`database:connection`: can this process open a connection and run a query?"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import text

from healthchecks.base import CheckResult, Status, describe_error, guarded
from ops.schema import safe_url

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "database:connection"
SLOW_MS = 1000.0


def _safe_url(runtime: Runtime) -> str:
    return safe_url(runtime.engine)


@guarded(NAME, unit="ms", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Run `SELECT 1`; fail with the driver's error when the database cannot be reached."""
    started = time.perf_counter()
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return CheckResult(
            NAME,
            Status.FAIL,
            observed=None,
            unit="ms",
            output=f"The database at {_safe_url(runtime)} is unreachable: {describe_error(exc)}.",
            fix="start the database server or correct SCRAPER_DATABASE_URL, then run `ops doctor`",
            evidence={"url": _safe_url(runtime), "error": describe_error(exc)},
            component_type="datastore",
        )
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
