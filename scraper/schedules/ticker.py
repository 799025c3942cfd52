"""The firing loop's one entry point: `tick(Session, settings)`, called from the worker's
housekeeping and from `scraper serve`'s own thread; it fires due schedules at most every
`SCRAPER_SCHEDULE_INTERVAL` seconds per process, whoever calls it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scraper.config import Settings
from scraper.periodic import Periodic
from scraper.schedules.fire import Fired, fire_due

log = logging.getLogger(__name__)
# Per session factory (one per runtime): when this process last looked.
_last: weakref.WeakKeyDictionary[sessionmaker[Session], float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_last_warning: list[str] = [""]  # said once until it changes: a drifted schema fails every tick


def tick(
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], float] = time.monotonic,
) -> list[Fired] | None:
    """Fire what is due unless this process looked less than an interval ago (then None)."""
    with _lock:
        now = clock()
        if now - _last.get(session_factory, float("-inf")) < settings.schedule_interval:
            return None
        _last[session_factory] = now
    try:
        return fire_due(
            session_factory,
            fired_by=f"{socket.gethostname()}:{os.getpid()}",
            pause_after=settings.schedule_pause_after,
        )
    except SQLAlchemyError as exc:  # the database is down: the next tick catches up
        _warn_once(f"schedules: cannot read due schedules: {str(exc).splitlines()[0]}")
        return None
    except Exception:  # never take the caller (the worker's housekeeping) down with it
        log.exception("schedules: firing failed")
        return None


def _warn_once(message: str) -> None:
    if message != _last_warning[0]:
        _last_warning[0] = message
        log.warning(message)


class Ticking(Periodic):
    """A thread calling `tick` (in `scraper serve`, so `--no-worker` fires schedules too)."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        interval = max(0.5, min(5.0, settings.schedule_interval))
        super().__init__("schedules", interval, lambda: tick(session_factory, settings))
