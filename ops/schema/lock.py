"""One schema changer at a time per database: the lock every repair path takes.

PostgreSQL: a session-level `pg_advisory_lock` (scoped to the database); MariaDB/MySQL:
`GET_LOCK` on a name qualified by the database (its names are server-wide); SQLite: an
exclusive `flock` on a `<database>.schema-lock` file beside the database (SQLite has no
named locks; the repair itself then runs in one `BEGIN EXCLUSIVE` transaction). The lock is
held on a connection of its own, so the repair may use as many connections as it likes.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from ops.errors import SchemaLockTimeout
from ops.schema.check import connect
from ops.schema.flock import flock

log = logging.getLogger("ops.schema")

LOCK_NAME = "scraper_schema_repair"
DEFAULT_TIMEOUT = 300.0


def lock_key(name: str = LOCK_NAME) -> int:
    """A stable signed 32-bit key for pg_advisory_lock derived from the lock's name."""
    return zlib.crc32(name.encode()) - 2**31


@contextlib.contextmanager
def schema_lock(engine: Engine, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the database-wide schema-repair lock for the duration of the block."""
    started = time.monotonic()
    if engine.dialect.name == "sqlite":
        cm = _file_lock(_lock_path(engine), timeout)
    else:
        cm = _server_lock(engine, timeout)
    with cm:
        waited = time.monotonic() - started
        if waited > 1.0:
            log.info("waited %.1fs for the schema lock", waited)
        yield


def _lock_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # a private in-memory database: nobody else to exclude
    return Path(database).with_name(Path(database).name + ".schema-lock")


@contextlib.contextmanager
def _file_lock(path: Path | None, timeout: float) -> Iterator[None]:
    if path is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(flock(path, exclusive=True, timeout=timeout))
        except TimeoutError:
            raise SchemaLockTimeout(str(path), timeout) from None
        yield


@contextlib.contextmanager
def _server_lock(engine: Engine, timeout: float) -> Iterator[None]:
    with connect(engine) as conn:  # CannotConnect when the server is unreachable
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        _acquire(conn, timeout)
        try:
            yield
        finally:
            _release(conn)


def _acquire(conn: Connection, timeout: float) -> None:
    if conn.dialect.name == "postgresql":
        # lock_timeout bounds the wait; the lock lives as long as this session.
        conn.execute(text(f"SET lock_timeout = {int(timeout * 1000)}"))
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key()})
        except Exception as exc:
            raise SchemaLockTimeout(LOCK_NAME, timeout) from exc
        conn.execute(text("SET lock_timeout = 0"))
        return
    name = _mysql_name(conn)
    got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": int(timeout)})
    if got.scalar() != 1:
        raise SchemaLockTimeout(name, timeout)


def _mysql_name(conn: Connection) -> str:
    """GET_LOCK names are server-wide: qualify by database (at most 64 characters)."""
    return f"{LOCK_NAME}:{conn.engine.url.database or ''}"[:64]


def _release(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # a dropped session releases the lock by itself
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key()})
        else:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _mysql_name(conn)})
