"""Wake idle job loops as soon as a job is queued, instead of at their next poll.

On PostgreSQL, while the worker leads its host's idle workers (`scraper.worker.election`),
every connection of its pool `LISTEN`s on `scraper.jobs.notify.CHANNEL` (from its next
checkout), and rings the bell on each notification psycopg reads while the connection runs a
statement. While a connection sits in the pool, one thread of the worker waits (`select`) on
its socket and reads what arrives. So the listener costs no connection of its own: the leader
holds one connection, its pool's (see `Runtime.kept_connections`), which claims, beats and
listens; a follower listens on nothing and holds no connection.

A connection that dies is marked and replaced at its next checkout; the new one listens and
rings at once (jobs queued meanwhile are claimed then). While no connection listens, and on
MariaDB and SQLite, the leader's loops poll every `poll_interval` seconds, as they always do.
"""

from __future__ import annotations

import logging
import select
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from scraper.errors import one_line
from scraper.jobs.notify import CHANNEL

log = logging.getLogger(__name__)

TICK = 0.25  # seconds the listener waits on the sockets before it looks again
LISTENING = "scraper_listening"  # a pooled connection's record.info key: LISTEN is in place
DEAD = "scraper_dead"  # the listener found the connection closed: replace it at checkout


class Wakeup:
    """A bell the job loops wait on: rung by a notification, by `ring`, or never (polling)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.generation = 0  # how many times it rang; a loop waits for it to change
        self.listening = threading.Event()  # set while a pooled connection LISTENs
        self._cond = threading.Condition()  # an RLock: `ring` is safe in a signal handler
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle: dict[int, tuple[Any, Any]] = {}  # id(record): (psycopg conn, record)
        self._idle_lock = threading.Lock()
        self._wanted = False  # LISTEN on the next checkouts: this worker leads (`listen`)

    def start(self) -> None:
        """Start listening (PostgreSQL with psycopg); elsewhere the bell only rings on `ring`."""
        dialect = self.engine.dialect
        if (dialect.name, dialect.driver) != ("postgresql", "psycopg") or self._thread is not None:
            return
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        event.listen(self.engine, "close", self._forget)
        event.listen(self.engine, "invalidate", self._forget_invalid)
        self._thread = threading.Thread(target=self._listen, name="worker-listen", daemon=True)
        self._thread.start()

    def listen(self, wanted: bool) -> None:
        """LISTEN from the next checkout on (the leader), or no more (a follower: the worker
        closes its pooled connections, and with them their LISTEN)."""
        self._wanted = wanted
        if not wanted:
            self.listening.clear()

    def close(self, timeout: float = 2.0) -> None:
        self._closed.set()
        self.ring()
        if self._thread is not None:
            self._thread.join(timeout)
            for name, hook in (
                ("checkout", self._checkout),
                ("checkin", self._checkin),
                ("close", self._forget),
                ("invalidate", self._forget_invalid),
            ):
                event.remove(self.engine, name, hook)

    def ring(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the bell rang since `generation` was `seen`, at most `timeout` seconds;
        True if it rang."""
        with self._cond:
            return self._cond.wait_for(lambda: self.generation != seen, timeout)

    # -- the pool's connections ----------------------------------------------------------

    def _checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(DEAD, False):
            raise DisconnectionError("closed while in the pool")  # the pool opens another
        with self._idle_lock:
            self._idle.pop(id(record), None)
        if record.info.get(LISTENING) or not self._wanted:
            return
        conn = dbapi_connection  # psycopg's own Connection
        conn.autocommit = True  # LISTEN takes effect at commit: its own transaction
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        finally:
            conn.autocommit = False
        conn.add_notify_handler(lambda _notify: self.ring())
        record.info[LISTENING] = True
        self.listening.set()
        log.debug("listening for queued jobs on %s", CHANNEL)
        self.ring()  # jobs queued while nobody listened: claim once now

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.get(LISTENING) and dbapi_connection is not None:
            with self._idle_lock:
                self._idle[id(record)] = (dbapi_connection, record)

    def _forget(self, _dbapi_connection: Any, record: Any) -> None:
        with self._idle_lock:
            self._idle.pop(id(record), None)

    def _forget_invalid(self, _dbapi_connection: Any, record: Any, _exc: Any) -> None:
        self._forget(_dbapi_connection, record)

    # -- the listener thread ---------------------------------------------------------------

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                self._listen_once()
            except Exception:  # noqa: BLE001 - never let the listener die: polling goes on
                log.debug("the listener's round failed", exc_info=True)
                self._closed.wait(TICK)

    def _listen_once(self) -> None:
        with self._idle_lock:
            idle = list(self._idle.values())
        sockets: dict[int, tuple[Any, Any]] = {}
        for conn, record in idle:
            try:
                sockets[conn.fileno()] = (conn, record)
            except Exception as exc:  # noqa: BLE001 - psycopg: "the connection is lost"
                self._lost(record, exc)
        if not sockets:  # every connection is busy (they ring as they read) or none exists
            self._closed.wait(TICK)
            return
        try:
            readable, _, _ = select.select(list(sockets), [], [], TICK)
        except (OSError, ValueError):  # closed meanwhile: look again
            return
        for fd in readable:
            self._read(*sockets[fd])

    def _read(self, conn: Any, record: Any) -> None:
        """Read what arrived on an idle connection: notifications ring (psycopg calls the
        handler); a closed connection is marked for replacement."""
        try:
            with conn.lock:  # a job loop checking it out meanwhile waits a moment
                pgconn = conn.pgconn
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    pgconn.notify_handler(notify)
        except Exception as exc:  # noqa: BLE001 - whatever it was, polling goes on
            self._lost(record, exc)

    def _lost(self, record: Any, exc: Exception) -> None:
        """A pooled connection died in the pool: replaced at its next checkout (which rings)."""
        with self._idle_lock:
            self._idle.pop(id(record), None)
            listening = bool(self._idle)
        record.info[DEAD] = True
        if not listening:
            self.listening.clear()
        if self._wanted:  # else closed on purpose: this worker follows, listening to nothing
            log.warning("job notifications lost, polling until reconnected: %s", one_line(exc))
