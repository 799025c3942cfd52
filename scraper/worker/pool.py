"""A job's download pool: up to `size` files downloading at once, results handed back one by one.

Only the downloads run in the pool's threads. Everything else (de-duplication, asset rows, the
report, progress) stays in the job's own thread, which takes each result in turn: the job's
state needs no lock, and what it counts is exact.

Items wait in a queue per host and start only while their host has a free slot (the host
limiter's concurrency) and is not paused by a `Retry-After`: a slow or paused host then holds
at most its own slots, never the whole pool, and the other hosts go on at full speed. The
limiter itself still spaces and caps every request of the process.
"""

from __future__ import annotations

import queue
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from scraper.download.cancel import CancelToken
from scraper.download.politeness import HostLimiter
from scraper.errors import DownloadError
from scraper.sources import MediaItem
from scraper.storage import Storage, StoredFile

Fetch = Callable[[MediaItem, CancelToken | None], StoredFile]
QUEUED_PER_THREAD = 4  # how far the search may run ahead of busy hosts


class Fetcher(Protocol):
    """What the pool downloads through: the guarded `Downloader`, or a test's stand-in."""

    def download(
        self, url: str, name_hint: str | None = None, cancel: CancelToken | None = None
    ) -> StoredFile: ...


@dataclass(frozen=True)
class ItemFetcher:
    """Store one item: its in-process bytes, or its URL through the downloader."""

    files: Storage
    downloader: Fetcher | None

    def __call__(self, item: MediaItem, cancel: CancelToken | None = None) -> StoredFile:
        if item.content is not None:
            mime = item.mime or "application/octet-stream"
            return self.files.put_bytes(item.content, mime, item.title)
        if self.downloader is None:
            raise DownloadError(item.url, "this worker has no downloader")
        return self.downloader.download(item.url, name_hint=item.title, cancel=cancel)


@dataclass(frozen=True)
class Fetched:
    """One finished download: the stored file, or the exception that stopped it."""

    source: str
    item: MediaItem
    stored: StoredFile | None = None
    error: BaseException | None = None


class DownloadPool:
    """`add` queues an item; `dispatch` starts what the hosts allow; `next_done` hands back
    results. `close` cancels what is still running and waits for it, so no download outlives
    its job (nor leaves a partial file)."""

    def __init__(
        self, size: int, fetch: Fetch, hosts: HostLimiter | None = None, name: str = "download"
    ) -> None:
        self.size = max(1, size)
        self.fetch = fetch
        self.hosts = hosts
        self.cancel = CancelToken()
        self.in_flight = 0  # the counters are the job thread's alone
        self.waiting = 0
        self._per_host: dict[str, int] = {}
        self._queues: OrderedDict[str, deque[tuple[str, MediaItem]]] = OrderedDict()
        self._done: queue.SimpleQueue[tuple[str, Fetched]] = queue.SimpleQueue()
        self._threads = ThreadPoolExecutor(self.size, thread_name_prefix=name)

    def __enter__(self) -> DownloadPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_room(self) -> bool:
        """True while a thread is free after `dispatch`: what waits is blocked by its host, so
        an item for another host could use it (the queues stay a few rounds deep at most)."""
        return self.in_flight < self.size and self.waiting < QUEUED_PER_THREAD * self.size

    @property
    def busy(self) -> int:
        """Items added and not yet handed back: running or waiting for their host."""
        return self.in_flight + self.waiting

    def add(self, source: str, item: MediaItem) -> None:
        """Queue `item` behind its host's earlier items; `dispatch` starts it."""
        host = (urlsplit(item.url).hostname or "").lower()
        self._queues.setdefault(host, deque()).append((source, item))
        self.waiting += 1

    def dispatch(self) -> None:
        """Start queued items, host by host in turn, while the pool and their hosts allow."""
        started = True
        while started and self.in_flight < self.size:
            started = False
            for host in list(self._queues):
                if self.in_flight < self.size and self._host_free(host):
                    self._start(host, *self._queues[host].popleft())
                    started = True
                    if not self._queues[host]:
                        del self._queues[host]
                    else:
                        self._queues.move_to_end(host)  # the next host goes first next time

    def next_done(self, timeout: float) -> Fetched | None:
        """The next finished download, waiting up to `timeout` seconds; None if none came."""
        try:
            host, fetched = self._done.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        self.in_flight -= 1
        self._per_host[host] -= 1
        return fetched

    def close(self) -> None:
        """Cancel the downloads still running and wait until their threads let go."""
        if self.in_flight:
            self.cancel.cancel()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def _host_free(self, host: str) -> bool:
        cap = self.hosts.concurrency if self.hosts is not None else self.size
        if self._per_host.get(host, 0) >= cap:
            return False
        return self.hosts is None or self.hosts.paused_for(host) <= 0

    def _start(self, host: str, source: str, item: MediaItem) -> None:
        self.waiting -= 1
        self.in_flight += 1
        self._per_host[host] = self._per_host.get(host, 0) + 1
        self._threads.submit(self._run, host, source, item)

    def _run(self, host: str, source: str, item: MediaItem) -> None:
        try:
            fetched = Fetched(source, item, stored=self.fetch(item, self.cancel))
        except BaseException as exc:  # handed to the job's thread, which decides
            fetched = Fetched(source, item, error=exc)
        self._done.put((host, fetched))
