"""Run online repair steps: a short lock wait, bounded retries with backoff, nothing left half-made.

Every statement runs in autocommit with a short lock timeout (PostgreSQL `lock_timeout`,
MariaDB/MySQL `lock_wait_timeout`): a DDL statement queued behind a long transaction would
otherwise block every later query on the table while it waits. When the timeout expires the
statement gives up, the repair backs off and tries again, a bounded number of times.

MariaDB counts its lock wait in whole seconds, and every insert queued behind a waiting ALTER
waits with it; so there the first attempts do not wait at all (`lock_wait_timeout = 0`, as
`NOWAIT`) and only the last ones wait a second, for a table never quiet for a moment.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ops.errors import ConstraintViolated, LockUnavailable, NotOnline, first_line
from ops.schema.online import Step

log = logging.getLogger("ops.schema")

LOCK_TIMEOUT = 0.5  # seconds a statement may wait for its lock (writes queue behind it meanwhile)
ATTEMPTS = 8
WAITING_ATTEMPTS = 2  # MariaDB/MySQL: the last attempts that wait their whole second
BACKOFF = 0.25  # first pause between attempts; doubles, with jitter, up to BACKOFF_MAX
BACKOFF_MAX = 5.0

_PG_RETRY = {"55P03", "40P01"}  # lock_not_available, deadlock_detected
_MYSQL_RETRY = {1205, 1213}  # lock wait timeout, deadlock
_MYSQL_REFUSED = {1845, 1846}  # ALGORITHM / LOCK not supported for this operation
# existing rows break the new constraint: unique, foreign key, check (PostgreSQL; MySQL/MariaDB)
_VIOLATED = {"23505", "23503", "23514", 1062, 1452, 3819, 4025}

_INVALID = text(
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = :name AND NOT i.indisvalid AND pg_table_is_visible(c.oid)"
)


def _code(exc: DBAPIError) -> object:
    """PostgreSQL's SQLSTATE, or MySQL's error number (PyMySQL sets a SQLSTATE too)."""
    orig = exc.orig
    args = getattr(orig, "args", None) or (None,)
    return args[0] if isinstance(args[0], int) else getattr(orig, "sqlstate", None)


def _detail(exc: DBAPIError) -> str:
    """The server's words: PostgreSQL's DETAIL names the offending key, MySQL's first line."""
    diag = getattr(exc.orig, "diag", None)
    detail = getattr(diag, "message_detail", None)
    return str(detail) if detail else first_line(exc)


def _added(step: Step) -> str:
    """What the step adds, for a message: the constraint's name, else its statement."""
    return step.constraint or step.sql[:80]


def violated(exc: DBAPIError) -> bool:
    """Rows already in the table break the constraint or unique index being added."""
    return _code(exc) in _VIOLATED


def retryable(exc: DBAPIError) -> bool:
    """A lock wait that timed out, or a deadlock: try again later."""
    return _code(exc) in _PG_RETRY | _MYSQL_RETRY


_STOP = threading.Event()  # Ctrl-C was pressed: set by the handler `catch_interrupts` installs


def catch_interrupts() -> None:
    """Remember Ctrl-C as well as raise it (main thread: the CLI). A KeyboardInterrupt raised
    while Python runs a finaliser (a connection or cursor collected mid-statement) is printed
    and dropped; the remembered one still stops the repair at its next attempt."""

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        _STOP.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def _stop_requested() -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt


def backoff(attempt: int) -> float:
    """The pause before attempt `attempt + 1`: doubling from BACKOFF, jittered, capped."""
    return min(BACKOFF_MAX, BACKOFF * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def upgrade_with_retries(
    conn: Connection, upgrade: Callable[[], None], attempts: int = ATTEMPTS
) -> None:
    """Run `upgrade` in one transaction; when a lock wait times out, roll back and retry.

    The migration environment sets a short `lock_timeout` for its transaction (PostgreSQL),
    so a migration never queues behind a long transaction: it gives up and comes back later.
    """
    for attempt in range(1, attempts + 1):
        _stop_requested()
        try:
            with conn.begin():
                upgrade()
            return
        except DBAPIError as exc:
            if _STOP.is_set():  # Ctrl-C dropped in a finaliser (catch_interrupts)
                raise KeyboardInterrupt from exc
            if not retryable(exc):
                raise
            if attempt == attempts:
                raise LockUnavailable("alembic upgrade", attempt, first_line(exc)) from exc
            log.info("lock busy for the migrations; retry %d", attempt)
            time.sleep(backoff(attempt))


@dataclass
class Runner:
    """Runs steps on one autocommit connection; `blocking_ok` lets a server-refused step block."""

    conn: Connection
    lock_timeout: float = LOCK_TIMEOUT
    attempts: int = ATTEMPTS
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        name = self.conn.dialect.name
        if name == "postgresql":
            self.conn.exec_driver_sql(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
            self.conn.exec_driver_sql("SET statement_timeout = 0")
        elif name == "mysql":
            self.conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {self._seconds}")

    @property
    def _seconds(self) -> int:
        """The lock wait in MySQL's whole seconds."""
        return max(1, math.ceil(self.lock_timeout))

    def _mysql_wait(self, attempt: int) -> None:
        """No lock wait on the early attempts (nothing queues behind them); a second on the last."""
        if self.conn.dialect.name != "mysql":
            return
        seconds = self._seconds if attempt > self.attempts - WAITING_ATTEMPTS else 0
        self.conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {seconds}")

    def run(self, step: Step, blocking_ok: bool = False) -> None:
        """Run one step, retrying lock timeouts with backoff; undo what a failure left behind."""
        for attempt in range(1, self.attempts + 1):
            try:
                _stop_requested()
                self._mysql_wait(attempt)
                if step.index:
                    self._drop_invalid(step.index, step.undo)
                self._execute(step, blocking_ok)
                self._verify(step)
                return
            except KeyboardInterrupt:
                self._undo_interrupted(step)
                raise
            except DBAPIError as exc:
                again = retryable(exc) and attempt < self.attempts
                if step.concurrent or not again:  # a failed concurrent build leaves an index
                    self._undo(step)
                if _STOP.is_set():  # Ctrl-C while the statement or its undo ran, dropped
                    self._undo_interrupted(step)
                    raise KeyboardInterrupt from exc
                if violated(exc):
                    raise ConstraintViolated(step.table, _added(step), _detail(exc)) from exc
                if not retryable(exc):
                    raise
                if not again:
                    raise LockUnavailable(step.sql, attempt, first_line(exc)) from exc
                delay = backoff(attempt)
                log.info("lock busy for %s; retry %d in %.2fs", step.sql[:80], attempt, delay)
                self.sleep(delay)

    def _execute(self, step: Step, blocking_ok: bool) -> None:
        if step.batched:
            while self.conn.exec_driver_sql(step.sql).rowcount:
                pass
            return
        if step.plain is None:
            self.conn.exec_driver_sql(step.sql)
            return
        for sql in (step.sql, step.instead):
            if sql is None:
                continue
            try:
                self._online(step, sql)
                return
            except DBAPIError as exc:
                if _code(exc) not in _MYSQL_REFUSED:
                    raise
                reason = first_line(exc)
        if not blocking_ok:
            raise NotOnline(step.plain, reason)
        log.warning("running with the server's blocking algorithm: %s (%s)", step.plain, reason)
        self.conn.exec_driver_sql(step.plain)

    def _online(self, step: Step, sql: str) -> None:
        """Run the online form; an unchecked step with foreign_key_checks = 0 for it alone."""
        if not step.unchecked:
            self.conn.exec_driver_sql(sql)
            return
        self.conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
        try:
            self.conn.exec_driver_sql(sql)
        finally:
            self.conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")

    def _verify(self, step: Step) -> None:
        """A constraint added without checking existing rows: check them now, or take it back."""
        if step.verify is None:
            return
        row = self.conn.exec_driver_sql(step.verify).first()
        if row is None:
            return
        self._undo(step)
        example = ", ".join(map(repr, row))
        raise ConstraintViolated(step.table, _added(step), f"for example a row with {example}")

    def _drop_invalid(self, index: str, drop: str | None) -> None:
        """Drop an invalid index left by an interrupted concurrent build (PostgreSQL)."""
        if self.conn.dialect.name != "postgresql" or drop is None:
            return
        if self.conn.execute(_INVALID, {"name": index}).first() is None:
            return
        log.warning("dropping the invalid index %s left by an interrupted build", index)
        self.run(Step("", drop, "SHARE UPDATE EXCLUSIVE", concurrent=True))

    def _undo_interrupted(self, step: Step) -> None:
        """Ctrl-C during a concurrent build: the driver cancelled it, which leaves an invalid
        index; drop it on a new connection (the interrupted one is discarded)."""
        if not step.concurrent or step.undo is None:
            return
        with contextlib.suppress(Exception), self.conn.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
            conn.exec_driver_sql(step.undo)
            log.warning("interrupted: dropped the half-built index (%s)", step.undo)

    def _undo(self, step: Step) -> None:
        if step.undo is None:
            return
        with contextlib.suppress(DBAPIError):  # the next run drops a leftover index anyway
            self.conn.exec_driver_sql(step.undo)
