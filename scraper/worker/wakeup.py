"""Wake idle job loops as soon as a job is queued, instead of at their next poll.

On PostgreSQL one thread per worker process holds a dedicated connection that LISTENs on
`scraper.jobs.notify.CHANNEL`; each notification rings the bell and every idle job loop
claims at once. The connection is outside the engine's pool (so it costs one connection per
worker process, whatever its concurrency) and is reopened when it dies; while it is down, and
on MariaDB and SQLite, the loops simply poll every `poll_interval` seconds, as they always do.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

from scraper.errors import one_line
from scraper.jobs.notify import CHANNEL

log = logging.getLogger(__name__)

TICK = 0.25  # seconds the listener waits for a notification before it looks at `closed`


class Wakeup:
    """A bell the job loops wait on: rung by a notification, by `ring`, or never (polling)."""

    def __init__(self, engine: Engine, reconnect_cap: float = 5.0) -> None:
        self.engine = engine
        self.reconnect_cap = reconnect_cap
        self.generation = 0  # how many times it rang; a loop waits for it to change
        self.listening = threading.Event()  # set while the LISTEN connection is open
        self._cond = threading.Condition()  # an RLock: `ring` is safe in a signal handler
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening (PostgreSQL); elsewhere the bell only rings on `ring`."""
        dialect = self.engine.dialect
        if (dialect.name, dialect.driver) != ("postgresql", "psycopg") or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="worker-listen", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        self._closed.set()
        self.ring()
        if self._thread is not None:
            self._thread.join(timeout)

    def ring(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the bell rang since `generation` was `seen`, at most `timeout` seconds;
        True if it rang."""
        with self._cond:
            return self._cond.wait_for(lambda: self.generation != seen, timeout)

    def _listen(self) -> None:
        delay = 0.1
        failing = False
        while not self._closed.is_set():
            try:
                self._listen_once()
                delay = 0.1
                failing = False
            except Exception as exc:  # noqa: BLE001 - whatever it was, polling goes on
                self.listening.clear()
                if not failing:
                    log.warning("job notifications lost, polling until back: %s", one_line(exc))
                failing = True
            self._closed.wait(delay)
            delay = min(self.reconnect_cap, delay * 2)

    def _listen_once(self) -> None:
        raw = self.engine.raw_connection()
        conn: Any = raw.driver_connection
        raw.detach()  # ours alone: never handed back to the pool
        try:
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            log.debug("listening for queued jobs on %s", CHANNEL)
            self.ring()  # jobs queued while nobody listened: claim once now
            while not self._closed.is_set():
                for _ in conn.notifies(timeout=TICK, stop_after=1):
                    self.ring()
        finally:
            self.listening.clear()
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close; it is gone
                log.debug("closing the listener's connection failed", exc_info=True)
