"""A background thread that calls one function every few seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Call `tick` every `interval` seconds in a daemon thread; a tick that raises is logged
    and the loop goes on (it must outlive a database outage)."""

    def __init__(
        self, name: str, interval: float, tick: Callable[[], object], first: float | None = None
    ) -> None:
        self.name = name
        self.interval = interval
        self.first = interval if first is None else first  # seconds before the first tick
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; the first tick comes `first` seconds from now (one interval)."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking and wait up to `timeout` seconds for a tick under way to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                self.tick()
            except Exception:
                log.exception("%s pass failed", self.name)
