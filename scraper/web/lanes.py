"""Two queues in front of waitress's threads, so a probe never waits behind a heavy read.

waitress hands every request to one FIFO queue served by `--threads` threads. Under a burst of
expensive reads those threads are busy and the queue holds more of them (or their 429 / 503
answers, each of which still authenticates its token): a `/healthz` that arrives then waits
its turn behind all of them (p99 0.6–5 s in docs/benchmarks.md, issue 23). `Lanes` keeps one
more thread that serves only the requests that touch nothing shared (`/healthz`, `/readyz`,
which reads its checks' cache, and the static files): each waits at most for the cheap
requests ahead of it. The threads still share one GIL (a 1 ms switch interval instead of
CPython's 5 ms was tried: fewer heavy reads served, no better probe; docs/benchmarks.md).

A third lane, one thread, takes the requests `refused` guesses will find no read slot
(`scraper.web.refusals`) and answers them PACE apart: clients that ask again at once after a
429 no longer spend every thread's CPU on refusals.

Only `scraper serve` imports this module (it pays for waitress; the app never does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from waitress.task import ThreadedTaskDispatcher

CHEAP_PREFIXES = ("/healthz", "/readyz", "/static/")


def is_cheap(path: str) -> bool:
    """A request the cheap lane serves: the probes and static files."""
    return path.startswith(CHEAP_PREFIXES)


QUIET = logging.getLogger("scraper.web.lanes.refusals")
QUIET.setLevel(logging.ERROR)  # not waitress's "Task queue depth is N" on every refusal
# (method, path, Authorization header) -> whether the app will refuse it (429 / 503)
Refused = Callable[[str, str, str], bool]


def _never(method: str, path: str, authorization: str) -> bool:
    return False


class Paced:
    """A task served `pause` seconds after its thread takes it (the refusal lane's)."""

    def __init__(self, task: Any, pause: float) -> None:
        self.task, self.pause = task, pause

    def service(self) -> None:
        time.sleep(self.pause)
        self.task.service()

    def cancel(self) -> None:
        self.task.cancel()


class Lanes(ThreadedTaskDispatcher):
    """waitress's task dispatcher (its threads serve everything) with one more thread kept
    for cheap requests and one that answers, paced, the requests `refused` picks."""

    def __init__(
        self, threads: int, cheap_threads: int = 1, refused: Refused = _never, pace: float = 0.0
    ) -> None:
        super().__init__()
        self.cheap, self.refusals = ThreadedTaskDispatcher(), ThreadedTaskDispatcher()
        self.refused, self.pace = refused, pace
        self.set_thread_count(threads)
        self.cheap.set_thread_count(cheap_threads)
        self.refusals.set_thread_count(1)
        self.refusals.queue_logger = QUIET  # a queue is the refusal lane's point

    def add_task(self, task: Any) -> None:
        """Queue a channel's next request on the lane its path (and, for the refusal lane,
        its method and token) picks."""
        requests = getattr(task, "requests", None)
        request = requests[0] if requests else None
        path = getattr(request, "path", "") or ""
        if is_cheap(path):
            self.cheap.add_task(task)
            return
        method = getattr(request, "command", "") or ""
        authorization = (getattr(request, "headers", None) or {}).get("AUTHORIZATION", "")
        if self.refused(method, path, authorization):
            paced: Any = Paced(task, self.pace)  # waitress reads only service() and cancel()
            self.refusals.add_task(paced)
        else:
            super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: int = 5) -> bool:
        """Stop every lane's threads (waitress calls this when the server closes)."""
        cheap = self.cheap.shutdown(cancel_pending, timeout)
        refusals = self.refusals.shutdown(cancel_pending, timeout)
        return bool(super().shutdown(cancel_pending, timeout)) and bool(cheap) and bool(refusals)
