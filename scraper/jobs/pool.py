"""A job's download pool: up to `size` files downloading at once, results handed back one by one.

Only the downloads run in the pool's threads. Everything else (de-duplication, asset rows, the
report, progress) stays in the job's own thread, which takes each result in turn: the job's
state needs no lock, and what it counts is exact. Hosts are kept polite by the downloader's
process-wide host limiter, not by the pool.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from scraper.download.cancel import CancelToken
from scraper.sources import MediaItem
from scraper.storage import StoredFile

Fetch = Callable[[MediaItem, CancelToken], StoredFile]


@dataclass(frozen=True)
class Fetched:
    """One finished download: the stored file, or the exception that stopped it."""

    source: str
    item: MediaItem
    stored: StoredFile | None = None
    error: BaseException | None = None


class DownloadPool:
    """Bounded: `submit` only while `has_room`; `close` cancels what is still running and
    waits for it, so no download outlives its job (nor leaves a partial file)."""

    def __init__(self, size: int, fetch: Fetch, name: str = "download") -> None:
        self.size = max(1, size)
        self.fetch = fetch
        self.cancel = CancelToken()
        self.in_flight = 0  # only the job's thread reads or changes it
        self._done: queue.SimpleQueue[Fetched] = queue.SimpleQueue()
        self._threads = ThreadPoolExecutor(self.size, thread_name_prefix=name)

    def __enter__(self) -> DownloadPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_room(self) -> bool:
        return self.in_flight < self.size

    def submit(self, source: str, item: MediaItem) -> None:
        """Start downloading `item` in a pool thread."""
        if not self.has_room:
            raise RuntimeError("the download pool is full; take a result first")
        self.in_flight += 1
        self._threads.submit(self._run, source, item)

    def next_done(self, timeout: float) -> Fetched | None:
        """The next finished download, waiting up to `timeout` seconds; None if none came."""
        try:
            fetched = self._done.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        self.in_flight -= 1
        return fetched

    def close(self) -> None:
        """Cancel the downloads still running and wait until their threads let go."""
        if self.in_flight:
            self.cancel.cancel()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def _run(self, source: str, item: MediaItem) -> None:
        try:
            self._done.put(Fetched(source, item, stored=self.fetch(item, self.cancel)))
        except BaseException as exc:  # handed to the job's thread, which decides
            self._done.put(Fetched(source, item, error=exc))
