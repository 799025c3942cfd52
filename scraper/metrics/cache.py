"""A tiny time-to-live cache: a scrape storm computes each database value once per TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    """Hold the last value of `compute` for `ttl` seconds; concurrent callers wait for one run."""

    def __init__(
        self,
        compute: Callable[[], T],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None

    def get(self) -> T:
        """Return the cached value, recomputing it once it is older than the TTL."""
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self.ttl or self._value is None:
                self._value = self._compute()
                self._at = self._clock()
            return self._value

    def clear(self) -> None:
        """Forget the value: the next `get` recomputes."""
        with self._lock:
            self._value, self._at = None, None
