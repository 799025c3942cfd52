"""Engine and sessionmaker; the constraint naming convention lives with the models' metadata."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from scraper.errors import one_line

log = logging.getLogger(__name__)
T = TypeVar("T")

# A lost or refused connection (a restart, a failover), never a statement the database refused:
# SQLSTATE class 08, PostgreSQL's admin/crash shutdown and "starting up", MySQL's client errors.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03")
_TRANSIENT_MYSQL_CODES = frozenset({2002, 2003, 2006, 2013})
RECONNECT_BUDGET = 30.0
# A lock wait cut short by lock_timeout / innodb_lock_wait_timeout: the same transaction may
# succeed once the holder lets go.
_LOCK_TIMEOUT_SQLSTATE = "55P03"
_LOCK_TIMEOUT_MYSQL_CODE = 1205
# A deadlock's victim: its transaction was rolled back whole, so it may simply run again.
_DEADLOCK_SQLSTATE = "40P01"
_DEADLOCK_MYSQL_CODE = 1213

# Seconds each statement of the current unit of work may run (the web sets it per request);
# None: no limit. Read by the engines' statement hooks below.
statement_timeout: ContextVar[float | None] = ContextVar("scraper_statement_timeout", default=None)


@contextlib.contextmanager
def unbounded() -> Iterator[None]:
    """Statements run without a web request's own `statement_timeout`, as the worker's do:
    under the role's or account's limit alone (the write probe must meet that one)."""
    token = statement_timeout.set(None)
    try:
        yield
    finally:
        statement_timeout.reset(token)


@dataclass(frozen=True)
class SessionLimits:
    """What the service's own database sessions may hold: seconds waiting for a lock, seconds
    idle inside a transaction (PostgreSQL). Ops tools and migrations open engines without."""

    lock_timeout: float
    idle_in_transaction_timeout: float


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _sqlite_functions(dbapi_connection: Any) -> None:
    """SQLite's lower() folds ASCII only; `q` shorter than a trigram needs Unicode's."""
    dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    _sqlite_functions(dbapi_connection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_engine(url: str, limits: SessionLimits | None = None, **kwargs: Any) -> Engine:
    """Create an engine tuned per dialect: SQLite gets WAL, a busy timeout and foreign keys;
    servers get `limits` on every session and the per-unit-of-work `statement_timeout`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if limits is not None:
        kwargs["connect_args"] = _limited(parsed, limits, kwargs)
    if "poolclass" not in kwargs:
        # Most recently used first: a few busy connections stay warm (never pinged), the rest idle.
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_engine(url, **kwargs)
    if limits is not None and parsed.get_backend_name() in ("mysql", "mariadb"):
        event.listen(engine, "connect", _mysql_lock_wait(limits.lock_timeout))
    _bound_statements(engine)
    if not kwargs["pool_pre_ping"]:
        ping_after_idle(engine)
    return engine


def _limited(parsed: URL, limits: SessionLimits, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Driver connect arguments that set the limits for the session's lifetime (no statement
    at check-out: a SET inside a transaction that rolls back would be undone on PostgreSQL).
    Connect arguments replace the URL's, so its own `options` are kept in ours."""
    args = dict(kwargs.get("connect_args") or {})
    backend = parsed.get_backend_name()
    lock_ms = max(1, round(limits.lock_timeout * 1000))
    idle_ms = max(1, round(limits.idle_in_transaction_timeout * 1000))
    if backend == "postgresql":
        options = f"-c lock_timeout={lock_ms} -c idle_in_transaction_session_timeout={idle_ms}"
        given = args.get("options") or parsed.query.get("options")
        args["options"] = f"{given} {options}" if isinstance(given, str) else options
    return args


def _mysql_lock_wait(seconds: float) -> Callable[[Any, Any], None]:
    """A connect hook: SET SESSION is not transactional on MySQL, and a hook leaves any
    `init_command` of the URL in place (connect arguments would replace it)."""
    statement = f"SET SESSION innodb_lock_wait_timeout={max(1, math.ceil(seconds))}"

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()

    return on_connect


def _mysql_metadata_wait(seconds: float) -> Callable[[Any, Any], None]:
    """A connect hook bounding waits for a table's metadata lock (`lock_wait_timeout`, a year
    by default), which `innodb_lock_wait_timeout` does not cover."""
    statement = f"SET SESSION lock_wait_timeout={max(1, math.ceil(seconds))}"

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()

    return on_connect


def _bound_statements(engine: Engine) -> None:
    """Hold each statement run while `statement_timeout` is set to that many seconds:
    PostgreSQL by `SET LOCAL statement_timeout` first in each transaction, MariaDB by
    `SET STATEMENT max_statement_time=… FOR` before the statement (MySQL: unbounded)."""

    def begun(conn: Any) -> None:
        conn.info["scraper_new_transaction"] = True

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        seconds = statement_timeout.get()
        fresh = conn.info.pop("scraper_new_transaction", False)
        if seconds is None:
            return statement, params
        if conn.dialect.name == "postgresql":
            if fresh:
                # a cursor of its own: the statement's may be a named (server-side) one
                with cursor.connection.cursor() as setter:
                    setter.execute(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")
            return statement, params
        if getattr(conn.dialect, "is_mariadb", False) and _BOUNDABLE.match(statement):
            return f"SET STATEMENT max_statement_time={seconds:g} FOR {statement}", params
        return statement, params

    event.listen(engine, "begin", begun)
    event.listen(engine, "before_cursor_execute", before, retval=True)


_BOUNDABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def is_deadlock(exc: BaseException) -> bool:
    """True when the database chose this transaction as a deadlock's victim and rolled it
    back: the same transaction may be run again."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    if getattr(exc.orig, "sqlstate", None) == _DEADLOCK_SQLSTATE:
        return True
    return bool(exc.orig.args) and exc.orig.args[0] == _DEADLOCK_MYSQL_CODE


def is_lock_timeout(exc: BaseException) -> bool:
    """True when a statement gave up waiting for a lock another transaction holds."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    if getattr(exc.orig, "sqlstate", None) == _LOCK_TIMEOUT_SQLSTATE:
        return True
    return bool(exc.orig.args) and exc.orig.args[0] == _LOCK_TIMEOUT_MYSQL_CODE


# With `pool_pre_ping=False` (a worker: `Runtime.pre_ping`), a pooled connection idle longer
# than this is pinged before use (a server restart, a failover, an idle timeout may have closed
# it); a busy one is not: a ping on every checkout was one statement in three of a worker's. A
# connection lost while busy fails its statement, the pool then drops every connection older
# than the failure, and a worker's writes and claims are retried (`retry_transient`, the claim
# loop's backoff). Everything else (web, ops) keeps a ping on every checkout: its reads are not
# retried, and a restart must not cost a reader an error.
PING_AFTER_IDLE = 2.0


def ping_after_idle(engine: Engine, idle: float = PING_AFTER_IDLE) -> None:
    """Ping a connection on checkout only if it sat in the pool for `idle` seconds or more."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return  # new (just connected), or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(one_line(exc)) from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A plain sessionmaker; callers open units of work with `with Session() as s, s.begin():`."""
    return sessionmaker(engine, expire_on_commit=False)


def is_transient(exc: BaseException) -> bool:
    """True when the database connection was lost or refused, so the same write may succeed
    once the server is back; False for anything the database itself refused."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", "")
    if sqlstate is None and isinstance(exc, OperationalError):
        return True  # psycopg: a client-side connection failure carries no SQLSTATE
    if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
        return True
    code = orig.args[0] if orig is not None and orig.args else None
    return isinstance(exc, OperationalError) and code in _TRANSIENT_MYSQL_CODES


def is_outage(exc: BaseException) -> bool:
    """True for an error a later try of the same transaction may not meet: the connection
    lost or refused, or a lock held elsewhere past the lock timeout."""
    return isinstance(exc, DBAPIError) and (is_transient(exc) or is_lock_timeout(exc))


def retry_deadlock(work: Callable[[], T], attempts: int = 3) -> T:
    """Run `work` (one whole transaction) again when the database chose it as a deadlock's
    victim (MariaDB's gap and rollup row locks under concurrent job writes); a web request
    must not wait out an outage, so any other error propagates at once."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if not is_deadlock(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("attempts must be at least 1")


def retry_transient(work: Callable[[], T], what: str, budget: float | None = None) -> T:
    """Run `work` (one whole idempotent transaction), again while the connection is down.

    Workers call this for their guarded writes so that a database restart, a lock held
    elsewhere past the lock timeout, or a deadlock this transaction lost, delays a job instead of
    failing it; after `budget` seconds (RECONNECT_BUDGET) the error propagates.
    """
    deadline = time.monotonic() + (RECONNECT_BUDGET if budget is None else budget)
    delay = 0.1
    while True:
        try:
            return work()
        except DBAPIError as exc:
            if not (is_outage(exc) or is_deadlock(exc)):
                raise
            if time.monotonic() + delay > deadline:
                raise
            reason = one_line(exc)
            cause = "deadlock" if is_deadlock(exc) else "database connection lost"
            log.warning("%s during %s (%s); retrying in %.1fs", cause, what, reason, delay)
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def readonly_sqlite_url(url: str) -> str:
    """`sqlite:///path` as a `mode=ro` URI: reads only, and a missing file is an error, not new."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return url
    if "mode" in parsed.query or (parsed.database or "").startswith("file:"):
        return url
    return f"sqlite:///file:{Path(parsed.database or '').absolute()}?mode=ro&uri=true"


def make_readonly_engine(url: str, limits: SessionLimits | None = None, **kwargs: Any) -> Engine:
    """An engine that cannot change anything it is pointed at: SQLite opened `mode=ro`.

    No folder is made, no journal mode set; servers get an ordinary engine (the callers only
    read, or write in transactions they roll back), with `limits` when given (a diagnosis
    must not queue without end behind a lock, such as an ALTER TABLE waiting for its own).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if limits is None:
            return create_engine(url, **kwargs)
        engine = make_engine(url, limits, **kwargs)
        if parsed.get_backend_name() in ("mysql", "mariadb"):  # a queued ALTER's metadata lock
            event.listen(engine, "connect", _mysql_metadata_wait(limits.lock_timeout))
        return engine
    engine = create_engine(readonly_sqlite_url(url), **kwargs)
    event.listen(engine, "connect", _sqlite_readonly_pragmas)
    return engine


def _sqlite_readonly_pragmas(dbapi_connection: Any, _record: Any) -> None:
    _sqlite_functions(dbapi_connection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


@contextlib.contextmanager
def sqlite_left_as_found(url: str) -> Iterator[None]:
    """Leave no `-wal`/`-shm` file a read-only connection made on a WAL database.

    A `mode=ro` connection cannot remove them on close; one plain connection opened and
    closed afterwards lets SQLite do its own last-close clean-up (only if nobody else has the
    file open; the database file itself is not written: nothing was committed).
    """
    path = sqlite_file(url)
    before = {s for s in SQLITE_SIDECARS if path and Path(f"{path}{s}").exists()}
    try:
        yield
    finally:
        if path is not None and path.exists():
            made = {s for s in SQLITE_SIDECARS if Path(f"{path}{s}").exists()} - before
            if made:
                _close_once(path)


def sqlite_file(url: str) -> Path | None:
    """The absolute path a SQLite URL names (None: in memory, or not SQLite)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        database = database[5:].split("?", 1)[0]
    return Path(database).absolute()


def _close_once(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master")  # join the WAL, to clean it up
        finally:
            conn.close()
    except sqlite3.Error:  # tidying only
        log.debug("could not tidy the sidecar files of %s", path)
