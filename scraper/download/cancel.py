"""A cancel token: set once, it stops every download carrying it, wherever each one waits.

A download blocks in three places: waiting for its host's turn, sleeping before a retry, and
reading a socket. The token ends the first two (they wait on it) and shuts the sockets of the
third down (each download registers its Watchdog), so a cancelled job's downloads end at once
and their partial files are removed by the code that made them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CancelToken:
    """Shared by the downloads of one job; `cancel()` is safe from any thread, and idempotent."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0

    def cancel(self) -> None:
        """Stop every download carrying this token, now and later."""
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True (at once) if the token is or becomes cancelled."""
        return self._event.wait(max(0.0, seconds))

    @contextmanager
    def on_cancel(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call `callback` if the token is cancelled while inside (at once if it already is)."""
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._callbacks[key] = callback
            already = self._event.is_set()
        if already:
            callback()
        try:
            yield
        finally:
            with self._lock:
                self._callbacks.pop(key, None)
