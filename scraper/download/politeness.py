"""Per-host politeness shared by every downloader of a process: a concurrency cap, a minimum
delay between requests, and a pause the whole process honours after a 429 `Retry-After`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from scraper.download.timing import Deadline
from scraper.errors import DeadlineExceeded, DownloadCancelled

SLOT_POLL = 0.1  # seconds between looks at a download's cancel token while it queues


@dataclass
class _Host:
    slots: threading.BoundedSemaphore
    next_at: float = 0.0  # monotonic time before which no request may start
    started_at: float = float("-inf")  # when the last request really started
    paused_until: float = 0.0  # the host asked us to wait (429 Retry-After) until then
    lock: threading.Lock = field(default_factory=threading.Lock)


class HostLimiter:
    """At most `concurrency` requests in flight per host, starting at least `delay` apart."""

    def __init__(self, concurrency: int = 2, delay: float = 0.5) -> None:
        self.concurrency = max(1, concurrency)
        self.delay = max(0.0, delay)
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> _Host:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _Host(threading.BoundedSemaphore(self.concurrency))
            return state

    @contextmanager
    def slot(self, host: str, deadline: Deadline, url: str) -> Iterator[None]:
        """Hold one of the host's slots; wait for its turn, never past `deadline`."""
        state = self._host(host.lower())
        self._acquire(state, host, deadline, url)
        try:
            wait = self._reserve(state)
            while wait > 0:
                deadline.sleep(wait, url)
                wait = self._start(state)
            yield
        finally:
            state.slots.release()

    @staticmethod
    def _acquire(state: _Host, host: str, deadline: Deadline, url: str) -> None:
        """Take a slot; give up at the deadline, or within SLOT_POLL of a cancel."""
        while not state.slots.acquire(timeout=min(SLOT_POLL, max(0.0, deadline.remaining()))):
            if deadline.cancel.cancelled:
                raise DownloadCancelled(url, f"cancelled while waiting for a slot for {host}")
            if deadline.remaining() <= 0:
                raise DeadlineExceeded(
                    url, f"no free connection slot for {host} before the deadline"
                )

    def _reserve(self, state: _Host) -> float:
        """Claim the next start time for this host; return how long to wait for it (0: the
        request starts now)."""
        with state.lock:
            now = time.monotonic()
            start = max(now, state.next_at)
            state.next_at = start + self.delay
            if start > now:
                return start - now
            state.started_at = now
            return 0.0

    def _start(self, state: _Host) -> float:
        """Start now if the last request really started `delay` ago and no pause came in
        meanwhile, else the time left: a thread woken late (a busy machine) starts late, and
        the next must still wait its `delay` after that start, not after the time it was given."""
        with state.lock:
            now = time.monotonic()
            left = max(state.started_at + self.delay, state.paused_until) - now
            if left > 0:
                return left
            state.started_at = now
            state.next_at = max(state.next_at, now + self.delay)
            return 0.0

    def pause(self, host: str, seconds: float) -> None:
        """The host asked us to wait (429 Retry-After): no request to it starts before then."""
        state = self._host(host.lower())
        with state.lock:
            state.paused_until = max(state.paused_until, time.monotonic() + seconds)
            state.next_at = max(state.next_at, state.paused_until)

    def paused_for(self, host: str) -> float:
        """Seconds left of the host's Retry-After pause (0 if none): a scheduler sends other
        hosts' work meanwhile instead of queueing more behind it."""
        state = self._host(host.lower())
        with state.lock:
            return max(0.0, state.paused_until - time.monotonic())

    def waiting_until(self, host: str) -> float:
        """Seconds until the host's next request may start (0 if now)."""
        state = self._host(host.lower())
        with state.lock:
            return max(0.0, state.next_at - time.monotonic())


_SHARED: dict[tuple[int, float], HostLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(concurrency: int, delay: float) -> HostLimiter:
    """The process-wide limiter for these limits: every worker thread's downloader shares it."""
    with _SHARED_LOCK:
        key = (concurrency, delay)
        if key not in _SHARED:
            _SHARED[key] = HostLimiter(concurrency, delay)
        return _SHARED[key]
