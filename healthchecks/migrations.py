"""`schema:migrations`: is the database at the newest Alembic revision this code ships?

Read without Alembic: one SELECT of `alembic_version` and the revision files parsed
(`ops.schema.scripts`), so the check costs no import of the migration machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from healthchecks.base import CheckResult, Fix, Status, guarded
from ops.schema.scripts import VERSION_TABLE, UnknownRevision, recorded_revision
from scraper.migrations.manage import MIGRATIONS

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "schema:migrations"


def pending_revisions(current: str | None) -> list[dict[str, Any]]:
    """Revisions after `current` up to the head, oldest first, each with its message."""
    return [{"revision": r.revision, "message": r.doc} for r in MIGRATIONS.pending(current)]


def _result(status: Status, observed: int, output: str, **extra: Any) -> CheckResult:
    return CheckResult(
        NAME,
        status,
        observed=observed,
        unit="revisions",
        output=output,
        component_type="datastore",
        **extra,
    )


def _newer(exc: UnknownRevision) -> CheckResult:
    """A newer release migrated first (a rolling deploy): this code must not repair anything.

    A warning: the write probe says whether this release's writes still work on that schema.
    """
    return _result(
        Status.WARN,
        1,
        f"The database is at revision {exc.revision}, which this release does not ship (its "
        f"newest is {exc.head}): a newer release of the scraper migrated it. Run the release "
        f"that ships revision {exc.revision} (or newer); do not run `ops migrate` from this one.",
        fix=Fix(f"deploy the scraper release that ships migration {exc.revision}"),
        evidence={"current": exc.revision, "code_head": exc.head, "newer_than_code": True},
    )


@guarded(NAME, unit="revisions", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Warn when the recorded revision is behind the head (and name each pending one)."""
    with runtime.engine.connect() as conn:
        versioned = inspect(conn).has_table(VERSION_TABLE)
        current = recorded_revision(conn) if versioned else None
    if not versioned:
        return _result(
            Status.PASS,
            0,
            "The database records no migration revision (the schema check covers it).",
        )
    try:
        pending = pending_revisions(current)
    except UnknownRevision as exc:
        return _newer(exc)
    if not pending:
        return _result(Status.PASS, 0, f"The database is at the newest revision ({current}).")
    names = ", ".join(f"{p['revision']} ({p['message']})" for p in pending)
    return _result(
        Status.WARN,
        len(pending),
        f"The database is at revision {current}; {len(pending)} pending: {names}.",
        fix=Fix("ops migrate", heal="migrate"),
        evidence={"current": current, "pending": pending},
    )
