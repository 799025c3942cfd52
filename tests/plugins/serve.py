"""`start_server`: a real `scraper serve` on a free port (with the `spawn` fixture), raw
sockets that send a request body until the server answers, and `from_address`: an HTTP
session whose connections leave from a chosen loopback address (127.0.0.0/8 all reach 127.0.0.1's
listeners), so one test can be several clients."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tests.plugins.processes import Spawn, scraper_env

SERVING = re.compile(r"Serving on http://127\.0\.0\.1:(\d+)")


def start_server(
    spawn: Spawn, tmp_path: Path, database_url: str | None = None, **extra: str
) -> tuple[str, subprocess.Popen[bytes]]:
    """`scraper serve --no-worker` over `database_url` (else a new SQLite database); its URL
    and process."""
    url = database_url or f"sqlite:///{tmp_path / 'serve.db'}"
    env = scraper_env(url, tmp_path / "data", **extra)
    child = spawn("serve", "--port", "0", "--no-worker", env=env, log_name="serve")
    log: Path = child.log_path  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        found = SERVING.search(log.read_text())
        if found:
            return f"http://127.0.0.1:{found.group(1)}", child
        time.sleep(0.1)
    raise AssertionError(f"scraper serve did not start:\n{log.read_text()}")


def connect(url: str) -> socket.socket:
    """A TCP connection to `http://HOST:PORT`."""
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def send_until_answered(
    sock: socket.socket, head: bytes, chunks: Iterator[bytes]
) -> tuple[bytes, int]:
    """Send `head` then chunks until the server answers or closes; (its answer, bytes sent)."""
    sock.sendall(head)
    sent = 0
    for chunk in chunks:
        if select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    sock.settimeout(5)
    try:
        return sock.recv(4096), sent
    except ConnectionResetError:
        return b"", sent


def chunked_body(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes as HTTP chunks, then the last chunk."""
    piece = f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


def plain_body(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes in pieces of `size`."""
    for _ in range(total // size):
        yield b"x" * size


class SourceAddressAdapter(HTTPAdapter):
    """Connections bound to one local address before they connect."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_address(address: str) -> requests.Session:
    """A requests session whose connections come from `address` (e.g. "127.0.0.7")."""
    session = requests.Session()
    adapter = SourceAddressAdapter(address)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
