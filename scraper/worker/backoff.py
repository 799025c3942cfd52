"""A failing loop waits longer each time and logs once a minute, not once a poll."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class FailureBackoff:
    """Exponential backoff plus a rate-limited log line that counts the failures in between."""

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        base: float = 1.0,
        cap: float = 30.0,
        log_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.log, self.base, self.cap = what, log, base, cap
        self.log_every, self.clock = log_every, clock
        self.reason: str | None = None
        self.streak = 0  # failures in a row
        self._unlogged = 0
        self._logged_at: float | None = None
        self._lock = threading.Lock()

    def failed(self, reason: str) -> float:
        """Count one failure; log when a minute has passed; the seconds to wait."""
        with self._lock:
            self.reason, self.streak = reason, self.streak + 1
            self._unlogged += 1
            now = self.clock()
            if self._logged_at is None or now - self._logged_at >= self.log_every:
                self.log.error(
                    "%s are failing (%d failure(s) since the last report): %s",
                    self.what,
                    self._unlogged,
                    reason,
                )
                self._logged_at, self._unlogged = now, 0
            return float(min(self.cap, self.base * 2 ** (self.streak - 1)))

    def succeeded(self) -> bool:
        """Reset after a success, saying so if failures had been reported; True if it was
        failing until now (a recovery the caller may want to report at once)."""
        with self._lock:
            recovered = self.reason is not None
            if recovered:
                self.log.info("%s work again after %d failure(s)", self.what, self.streak)
            self.reason, self.streak, self._unlogged, self._logged_at = None, 0, 0, None
            return recovered

    @property
    def summary(self) -> str | None:
        """`claims are failing: <reason>` while failing, else None."""
        return None if self.reason is None else f"{self.what} are failing: {self.reason}"[:500]
