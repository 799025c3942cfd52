"""Fair sharing of the expensive requests: one user cannot take every server thread.

A view declared `@documented(..., expensive=True)` (job lists and searches, stats, asset lists,
archives, the jobs page, the dashboard's poll, and the writes that lock a job's row: cancel,
retry, bulk, delete, which may wait `SCRAPER_DB_LOCK_TIMEOUT` behind a transaction held
elsewhere) takes a slot before it runs: at most `SCRAPER_WEB_USER_READS` per user (all their
sessions and tokens together) and `SCRAPER_WEB_READS` for everyone. A request that
finds no slot is refused at once, never queued (a queued request holds a server thread just
the same): 429 `too_many_requests` over the user's limit, 503 `server_busy` over the global
one, each with `Retry-After` and the setting that limits it named in the body. A streamed
answer (an archive) holds its slot until the client has read it all.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from scraper.config import Settings
from scraper.web.errors import error_response, wants_json

F = TypeVar("F", bound=Callable[..., Any])
RETRY_AFTER_SECONDS = 1  # an expensive read takes a second or so; try again after one
EXTENSION = "scraper_reads"


class Busy(Exception):
    """No slot for an expensive read: `limit` names the setting, `status` is 429 or 503."""

    def __init__(self, status: int, code: str, message: str, limit: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.limit = status, code, message, limit


class ReadSlots:
    """Counts the expensive reads running, per user and in all; thread-safe."""

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self._running: Counter[int] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadSlots:
        return cls(settings.web_user_reads, settings.web_reads)

    def acquire(self, user_id: int) -> None:
        """Take a slot for `user_id`, or raise Busy (nothing taken)."""
        with self._lock:
            if self._running[user_id] >= self.per_user:
                raise Busy(
                    429,
                    "too_many_requests",
                    f"you already have {self.per_user} expensive requests running (lists, "
                    f"searches, stats, archives, job changes); wait for one to finish "
                    f"(limit: SCRAPER_WEB_USER_READS={self.per_user})",
                    "SCRAPER_WEB_USER_READS",
                )
            if self._running.total() >= self.total:
                raise Busy(
                    503,
                    "server_busy",
                    f"the server is running {self.total} expensive requests for all users; try "
                    f"again shortly (limit: SCRAPER_WEB_READS={self.total})",
                    "SCRAPER_WEB_READS",
                )
            self._running[user_id] += 1

    def release(self, user_id: int) -> None:
        with self._lock:
            self._running[user_id] -= 1
            if self._running[user_id] <= 0:
                del self._running[user_id]

    def running(self, user_id: int | None = None) -> int:
        """Reads running now: of one user, or of everyone."""
        with self._lock:
            return self._running.total() if user_id is None else self._running[user_id]


def slots() -> ReadSlots:
    """The app's read slots (made by `init_app`)."""
    found: ReadSlots = current_app.extensions[EXTENSION]
    return found


def limited(view: F) -> F:
    """Run `view` inside a read slot of the signed-in user (sign-in is checked before)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user_id, reads = int(current_user.get_id()), slots()
        reads.acquire(user_id)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            reads.release(user_id)
            raise
        if response.is_streamed:  # the slot is held until the last byte is sent
            response.call_on_close(functools.partial(reads.release, user_id))
        else:
            reads.release(user_id)
        return response

    return wrapper  # type: ignore[return-value]


def _busy(exc: Busy) -> ResponseReturnValue:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_json():
        return error_response(exc.status, exc.code, exc.message, limit=exc.limit), headers
    title = "Too many requests" if exc.status == 429 else "Server busy"
    page = render_template("error.html", status=exc.status, title=title, message=exc.message)
    return page, exc.status, headers


def init_app(app: Flask, settings: Settings) -> None:
    """Give the app its read slots and render Busy as 429/503 with `Retry-After`."""
    app.extensions[EXTENSION] = ReadSlots.from_settings(settings)
    app.register_error_handler(Busy, _busy)
