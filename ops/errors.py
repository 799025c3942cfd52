"""Exceptions of the ops toolkit; the CLI turns them into one-line messages and exit code 2.

OpsError
 +-- CannotConnect       the database is unreachable (carries the password-free url and cause)
 +-- DatabaseMissing     a SQLite file that does not exist (carries the path; never created)
 +-- BadModelsPath       `--models MODULE:ATTR` does not name a MetaData or declarative base
 +-- MigrationFailed     a migration step failed; the database was restored (carries the step)
 +-- SchemaLockTimeout   another process held the schema-repair lock for too long
 +-- LockUnavailable     a repair statement's short lock_timeout kept expiring (bounded retries)
 +-- NotOnline           the server would block writes to run a statement, and that was not allowed
 +-- ConstraintViolated  existing rows break the constraint a repair adds (it is not kept)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


def safe_url(target: Engine | str) -> str:
    """The URL (an engine's, or as given) with the password hidden.

    Here rather than in `ops.schema.check`, so that `ops jobs` names a database without
    importing the schema comparison; SQLAlchemy is imported when called (`ops --help` imports
    this module).
    """
    from sqlalchemy.engine import make_url

    url = make_url(target) if isinstance(target, str) else target.url
    return url.render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """The database's own words, first line (a driver error's `orig`), for one-line messages.

    `scraper.db.first_line` does the same for the service: `ops.schema`, a library of its own,
    may not import the service.
    """
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OpsError(Exception):
    """Base class of every error the ops toolkit raises on purpose."""


class CannotConnect(OpsError):
    """The database could not be reached."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"cannot connect to {url}: {cause}")
        self.url = url
        self.cause = cause


class DatabaseMissing(OpsError):
    """A SQLite database file that does not exist; a read-only command does not create it."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the SQLite database {path} does not exist (`ops init-db` creates it; "
            "check --database-url or SCRAPER_DATABASE_URL)"
        )
        self.path = path


class BadModelsPath(OpsError):
    """`MODULE:ATTR` could not be imported or is not a MetaData / declarative base."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"bad --models {path!r}: {reason}")
        self.path = path
        self.reason = reason


class MigrationFailed(OpsError):
    """A migration step failed; `restored` tells whether the database was put back as it was,
    `kept` lists additive changes left in place (other processes may already use them)."""

    def __init__(
        self, step: str, cause: str, restored: bool, kept: list[str] | None = None
    ) -> None:
        state = "database restored to its previous state" if restored else "database NOT restored"
        if kept:
            state = f"additive changes kept, in use by other processes: {', '.join(kept)}"
        super().__init__(f"migration failed at {step}: {cause} ({state})")
        self.step = step
        self.cause = cause
        self.restored = restored
        self.kept = kept or []


class SchemaLockTimeout(OpsError):
    """Another process held the schema-repair lock longer than we were willing to wait."""

    def __init__(self, lock: str, timeout: float) -> None:
        super().__init__(f"schema lock {lock} still held by another process after {timeout:.0f}s")
        self.lock = lock
        self.timeout = timeout


class LockUnavailable(OpsError):
    """A repair statement kept timing out waiting for a lock another transaction holds."""

    def __init__(self, statement: str, attempts: int, cause: str) -> None:
        super().__init__(
            f"gave up after {attempts} attempts waiting for a lock (other transactions hold it; "
            f"writes were never queued behind the repair): {statement}: {cause}"
        )
        self.statement = statement
        self.attempts = attempts
        self.cause = cause


class NotOnline(OpsError):
    """The server cannot run a repair statement without blocking writes (not allowed here)."""

    def __init__(self, statement: str, reason: str) -> None:
        super().__init__(f"the server cannot run this online: {statement}: {reason}")
        self.statement = statement
        self.reason = reason


class ConstraintViolated(MigrationFailed):
    """Rows already in the table break the constraint (or unique index) a repair was adding.

    The half-made constraint is dropped again; the rows must be fixed before the repair can
    run. A MigrationFailed whose `step` is the repair and `kept` what earlier repairs added.
    """

    def __init__(self, table: str, constraint: str, example: str) -> None:
        super().__init__(constraint, example, True)
        self.table = table
        self.constraint = constraint
        self.example = example
        self.args = (self._message(),)

    def at(self, step: str, kept: list[str]) -> ConstraintViolated:
        """The same failure, placed at the repair `step` with what earlier repairs `kept`."""
        self.step, self.kept, self.restored = step, kept, not kept
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        kept = f" (kept in place, in use: {', '.join(self.kept)})" if self.kept else ""
        return (
            f"existing rows of {self.table} violate {self.constraint}, so it was not added "
            f"({self.example}); fix or delete those rows, then run `ops migrate` again{kept}"
        )
