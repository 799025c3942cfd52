"""The download pool's scheduling and the cancel token, without a database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from scraper.download import Downloader
from scraper.download.cancel import CancelToken
from scraper.download.politeness import HostLimiter
from scraper.download.timing import Deadline
from scraper.errors import DownloadCancelled
from scraper.sources import MediaItem
from scraper.storage import StoredFile
from scraper.worker.pool import DownloadPool
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.waiting import wait_until

BODY = b"\x89PNG\r\n\x1a\n" + b"0" * 4000


def blocked_until_cancelled(item: MediaItem, cancel: CancelToken) -> StoredFile:
    """A download that never finishes by itself."""
    cancel.wait(30)
    raise DownloadCancelled(item.url, "cancelled")


def items(host: str, n: int) -> list[MediaItem]:
    return [MediaItem(url=f"http://{host}/{i}.png") for i in range(n)]


def test_each_host_gets_at_most_its_slots_and_other_hosts_start_meanwhile() -> None:
    with DownloadPool(8, blocked_until_cancelled, HostLimiter(2, 0.0)) as pool:
        for item in items("a.example", 5) + items("b.example", 1):
            pool.add("s", item)
        pool.dispatch()
        assert (pool.in_flight, pool.waiting) == (3, 3)
        assert pool.has_room  # a free thread: an item for a third host could use it


def test_a_paused_host_waits_while_the_others_start() -> None:
    hosts = HostLimiter(2, 0.0)
    hosts.pause("a.example", 5.0)
    with DownloadPool(8, blocked_until_cancelled, hosts) as pool:
        for item in items("a.example", 2) + items("b.example", 2):
            pool.add("s", item)
        pool.dispatch()
        assert (pool.in_flight, pool.waiting) == (2, 2)


def test_closing_the_pool_cancels_what_runs_at_once() -> None:
    pool = DownloadPool(4, blocked_until_cancelled)
    for item in items("a.example", 4):
        pool.add("s", item)
    pool.dispatch()
    began = time.monotonic()
    pool.close()
    assert time.monotonic() - began < 1.0


def test_a_cancelled_download_ends_at_once_and_leaves_no_partial_file(
    http_server: HTTPTestServer, data_dir: Path, downloader: Downloader
) -> None:
    http_server.route("/slow.png", BODY, "image/png", drip=20.0 / len(BODY))
    cancel, errors = CancelToken(), []

    def download() -> None:
        try:
            downloader.download(http_server.url("/slow.png"), cancel=cancel)
        except DownloadCancelled as exc:
            errors.append(exc)

    thread = threading.Thread(target=download)
    thread.start()
    wait_until(lambda: list((data_dir / "tmp").glob("*.part")), 10, "a partial file")
    began = time.monotonic()
    cancel.cancel()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - began < 1.0
    assert len(errors) == 1 and not list((data_dir / "tmp").glob("*.part"))


@pytest.mark.parametrize("held", [True, False])
def test_a_cancel_ends_a_wait_for_the_hosts_slot_or_its_retry_after(held: bool) -> None:
    hosts = HostLimiter(1, 0.0)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    began = time.monotonic()
    deadline = Deadline(30, cancel)
    with pytest.raises(DownloadCancelled):
        if held:  # another download holds the only slot
            with hosts.slot("a.example", Deadline(30), "http://a.example/"):
                with hosts.slot("a.example", deadline, "http://a.example/x"):
                    pass
        else:
            deadline.sleep(20, "http://a.example/x")  # a Retry-After wait
    assert time.monotonic() - began < 1.0
