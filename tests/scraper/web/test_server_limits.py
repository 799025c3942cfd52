"""`scraper serve` holds against slow and greedy clients (issue 28, item 1), as a real process:
150 half-sent requests leave `/healthz` answering, silent connections are cut, and a body over
the limit is refused before it is read, whether sized by `Content-Length` or chunked."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.plugins.processes import Spawn
from tests.plugins.serve import chunked_body, connect, plain_body, send_until_answered, start_server

MiB = 1024 * 1024


@pytest.fixture
def half_sent(tmp_path: Path) -> Iterator[Callable[[str, int], list[socket.socket]]]:
    opened: list[socket.socket] = []

    def open_many(url: str, count: int) -> list[socket.socket]:
        for _ in range(count):
            sock = connect(url)
            sock.sendall(b"POST /api/comprehensive-search HTTP/1.1\r\nHost: x\r\nContent-Le")
            opened.append(sock)
        return opened

    yield open_many
    for sock in opened:
        sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


@pytest.mark.slow
def test_150_half_sent_requests_leave_healthz_answering_and_are_cut_when_silent(
    spawn: Spawn, tmp_path: Path, half_sent: Callable[[str, int], list[socket.socket]]
) -> None:
    url, _ = start_server(spawn, tmp_path, SCRAPER_WEB_CHANNEL_TIMEOUT="3")
    sockets = half_sent(url, 150)
    started = time.monotonic()
    response = requests.get(f"{url}/healthz", timeout=2)
    assert response.status_code == 200 and time.monotonic() - started < 2
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(_closed_by_server(s) for s in sockets):
        time.sleep(0.5)
    assert all(_closed_by_server(s) for s in sockets), "silent connections were not cut"


def _temp_bytes(pid: int, tmp_dir: Path) -> int:
    """Bytes in the files under `tmp_dir` the process holds open (waitress's spilled bodies)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(tmp_dir)):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            continue
    return total


class TempWatch(threading.Thread):
    """The largest spilled-body size seen while it runs."""

    def __init__(self, pid: int, tmp_dir: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.tmp_dir, self.largest = pid, tmp_dir, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.largest = max(self.largest, _temp_bytes(self.pid, self.tmp_dir))


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_100_mib_anonymous_post_is_refused_before_it_is_read(
    spawn: Spawn, tmp_path: Path, framing: str
) -> None:
    tmp_dir = tmp_path / "server-tmp"
    tmp_dir.mkdir()
    url, child = start_server(spawn, tmp_path, TMPDIR=str(tmp_dir))
    watch = TempWatch(child.pid, tmp_dir)
    watch.start()
    head = (
        b"POST /api/comprehensive-search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    )
    if framing == "chunked":
        head, body = head + b"Transfer-Encoding: chunked\r\n\r\n", chunked_body(100 * MiB)
    else:
        head, body = head + f"Content-Length: {100 * MiB}\r\n\r\n".encode(), plain_body(100 * MiB)
    with connect(url) as sock:
        answer, sent = send_until_answered(sock, head, body)
    watch.done.set()
    watch.join()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 10 * MiB, f"the server read {sent} bytes before refusing"
    assert watch.largest == 0, f"{watch.largest} bytes of the body were written to disk"
    assert list(tmp_dir.iterdir()) == []
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


@pytest.mark.slow
def test_a_body_just_over_the_app_limit_is_413_and_one_under_is_read(
    spawn: Spawn, tmp_path: Path
) -> None:
    url, _ = start_server(spawn, tmp_path, SCRAPER_WEB_MAX_BODY_BYTES="1000")
    over = requests.post(f"{url}/api/comprehensive-search", data=b"x" * 1001, timeout=5)
    assert over.status_code == 413
    under = requests.post(f"{url}/api/comprehensive-search", data=b"x" * 999, timeout=5)
    assert under.status_code == 401  # read, then refused for the missing login
