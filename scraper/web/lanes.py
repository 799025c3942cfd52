"""Two queues in front of waitress's threads, so a probe never waits behind a heavy read.

waitress hands every request to one FIFO queue served by `--threads` threads. Under a burst of
expensive reads those threads are busy and the queue holds more of them (or their 429 / 503
answers, each of which still authenticates its token): a `/healthz` that arrives then waits
its turn behind all of them (p99 0.6–5 s in docs/benchmarks.md, issue 23). `Lanes` keeps one
more thread that serves only the requests that touch nothing shared (`/healthz`, `/readyz`,
which reads its checks' cache, and the static files): each waits at most for the cheap
requests ahead of it. The threads still share one GIL (a 1 ms switch interval instead of
CPython's 5 ms was tried: fewer heavy reads served, no better probe; docs/benchmarks.md).

Only `scraper serve` imports this module (it pays for waitress; the app never does).
"""

from __future__ import annotations

from typing import Any

from waitress.task import ThreadedTaskDispatcher

CHEAP_PREFIXES = ("/healthz", "/readyz", "/static/")


def is_cheap(path: str) -> bool:
    """A request the cheap lane serves: the probes and static files."""
    return path.startswith(CHEAP_PREFIXES)


class Lanes(ThreadedTaskDispatcher):
    """waitress's task dispatcher (its threads serve everything) with one more thread kept
    for cheap requests."""

    def __init__(self, threads: int, cheap_threads: int = 1) -> None:
        super().__init__()
        self.cheap = ThreadedTaskDispatcher()
        self.set_thread_count(threads)
        self.cheap.set_thread_count(cheap_threads)

    def add_task(self, task: Any) -> None:
        """Queue a channel's next request on the lane its path picks."""
        requests = getattr(task, "requests", None)
        path = getattr(requests[0], "path", "") if requests else ""
        if is_cheap(path or ""):
            self.cheap.add_task(task)
        else:
            super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: int = 5) -> bool:
        """Stop both lanes' threads (waitress calls this when the server closes)."""
        cheap = self.cheap.shutdown(cancel_pending, timeout)
        return bool(super().shutdown(cancel_pending, timeout)) and bool(cheap)
