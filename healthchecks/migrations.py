"""`schema:migrations`: is the database at the newest Alembic revision this code ships?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from healthchecks.base import CheckResult, Fix, Status, guarded
from scraper.migrations.manage import MIGRATIONS

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "schema:migrations"


def pending_revisions(current: str | None) -> list[dict[str, Any]]:
    """Revisions after `current` up to the head, oldest first, each with its message."""
    script = ScriptDirectory.from_config(MIGRATIONS.config())
    head = script.get_current_head()
    revisions = list(script.iterate_revisions(head, current))
    return [{"revision": r.revision, "message": r.doc} for r in reversed(revisions)]


@guarded(NAME, unit="revisions", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Warn when the recorded revision is behind the head (and name each pending one)."""
    with runtime.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return CheckResult(
                NAME,
                Status.PASS,
                observed=0,
                unit="revisions",
                output="The database records no migration revision (the schema check covers it).",
                component_type="datastore",
            )
        current = MigrationContext.configure(conn).get_current_revision()
    pending = pending_revisions(current)
    if not pending:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=0,
            unit="revisions",
            output=f"The database is at the newest revision ({current}).",
            component_type="datastore",
        )
    names = ", ".join(f"{p['revision']} ({p['message']})" for p in pending)
    return CheckResult(
        NAME,
        Status.WARN,
        observed=len(pending),
        unit="revisions",
        output=f"The database is at revision {current}; {len(pending)} pending: {names}.",
        fix=Fix("ops migrate", heal="migrate"),
        evidence={"current": current, "pending": pending},
        component_type="datastore",
    )
