"""Engine and sessionmaker; the constraint naming convention lives with the models' metadata."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")

# A lost or refused connection (a restart, a failover), never a statement the database refused:
# SQLSTATE class 08, PostgreSQL's admin/crash shutdown and "starting up", MySQL's client errors.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03")
_TRANSIENT_MYSQL_CODES = frozenset({2002, 2003, 2006, 2013})
RECONNECT_BUDGET = 30.0

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine tuned per dialect: SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Most recently used first: a few busy connections stay warm (never pinged), the rest idle.
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_engine(url, **kwargs)
    if not kwargs["pool_pre_ping"]:
        ping_after_idle(engine)
    return engine


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
            raise DisconnectionError(first_line(exc)) from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A plain sessionmaker; callers open units of work with `with Session() as s, s.begin():`."""
    return sessionmaker(engine, expire_on_commit=False)


def first_line(exc: BaseException) -> str:
    """The database's own words, first line (a driver error's `orig`), for one-line messages."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


def retry_transient(work: Callable[[], T], what: str, budget: float = RECONNECT_BUDGET) -> T:
    """Run `work` (one whole idempotent transaction), again while the connection is down.

    Workers call this for their guarded writes so that a database restart delays a job
    instead of failing it; after `budget` seconds the error propagates.
    """
    deadline = time.monotonic() + budget
    delay = 0.1
    while True:
        try:
            return work()
        except DBAPIError as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            reason = first_line(exc)
            log.warning(
                "database connection lost during %s (%s); retrying in %.1fs", what, reason, delay
            )
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


def make_readonly_engine(url: str, **kwargs: Any) -> Engine:
    """An engine that cannot change anything it is pointed at: SQLite opened `mode=ro`.

    No folder is made, no journal mode set; servers get an ordinary engine (the callers only
    read, or write in transactions they roll back).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    engine = create_engine(readonly_sqlite_url(url), **kwargs)
    event.listen(engine, "connect", _sqlite_readonly_pragmas)
    return engine


def _sqlite_readonly_pragmas(dbapi_connection: Any, _record: Any) -> None:
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
