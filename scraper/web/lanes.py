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

`/healthz` takes no lane at all: `ProbeChannel` serves it on waitress's I/O thread, right after
reading it, and sends the answer in the same turn. A probe handed to a lane thread waited for
that thread to get the GIL and a CPU, then for the I/O thread again to send the answer; under a
burst each hand-over waits behind the busy threads (up to the 5 ms switch interval each) and,
on a loaded machine, for the scheduler. Liveness touches no database and costs well under a
millisecond of the I/O thread's time; `/readyz` (its checks may query the database) and the
static files stay on the cheap lane.

Only `scraper serve` imports this module (it pays for waitress; the app never does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher

CHEAP_PREFIXES = ("/healthz", "/readyz", "/static/")
INLINE_PATHS = frozenset({"/healthz"})  # served on the I/O thread (ProbeChannel)


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
        if path in INLINE_PATHS and isinstance(task, ProbeChannel) and task.reading_here():
            task.serve_inline = True  # ProbeChannel.received serves it once the read is done
            return
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


class ProbeChannel(HTTPChannel):
    """waitress's HTTP channel that serves an `INLINE_PATHS` request on the I/O thread.

    `Lanes.add_task` marks the channel while `received` runs (it is called under the channel's
    requests lock, where serving would deadlock); `received` then serves it and sends the
    answer at once. A probe queued behind a request a lane thread is still serving (HTTP
    pipelining) is handed on by that thread and goes to the cheap lane as before.
    """

    serve_inline = False
    _reader: int | None = None

    def reading_here(self) -> bool:
        """True when called from within this channel's `received`, on the I/O thread."""
        return self._reader == threading.get_ident()

    def received(self, data: bytes) -> bool:
        self._reader = threading.get_ident()
        try:
            more: bool = super().received(data)
        finally:
            self._reader = None
        served = False
        while self.serve_inline:  # a pipelined probe after this one is marked again
            self.serve_inline, served = False, True
            self._reader = threading.get_ident()
            try:
                self.service()
            finally:
                self._reader = None
        if served:
            self.handle_write()  # send now (and close if asked), not on the loop's next turn
        return more


def probes_inline(server: Any) -> None:
    """Make `server` (waitress's, or each of a multi-socket server's) accept its connections
    as `ProbeChannel`s."""
    servers = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for each in servers:
        if hasattr(each, "channel_class"):
            each.channel_class = ProbeChannel
