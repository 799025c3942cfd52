"""The `http_server` fixture: a real threaded HTTP server on 127.0.0.1 serving recorded replies.

Each test registers the replies a path gives (status, headers, body, a drip delay for a
slow-loris server, no Content-Length for a close-delimited body); several replies for one
path are served in order and the last one repeats (429 then 200). Every request is logged.

A route's path includes the query string. For APIs, `add(..., any_query=True)` answers a
path whatever its query, and `handle` answers with a function of the parsed query (one
reply per page of results); an exact route wins over both.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Reply:
    """One recorded response."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body (a slow-loris server)
    send_length: bool = True  # False: no Content-Length; the body ends when the socket closes
    drip_head: bool = False  # drip the status line and headers too (a slow-headers server)
    delay: float = 0.0  # seconds the server holds the request before it answers


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    at: float

    @property
    def bare_path(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string, parsed (every value a list, as `parse_qs` gives)."""
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)


# Answers a request from its parsed query string.
Handler = Callable[[Mapping[str, list[str]]], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(with_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet; the request log is on the server object."""

    def _serve(self, with_body: bool) -> None:
        owner = self.server.owner
        owner.record(Seen(self.command, self.path, dict(self.headers.items()), time.monotonic()))
        reply = owner.next_reply(self.path)
        with owner.serving():
            owner.stopping.wait(reply.delay)
        # Counted done before the answer leaves: a client cannot have seen it finish earlier.
        if reply.drip_head:
            self._drip(f"HTTP/1.1 {reply.status} Slow\r\nX-Pad: {'x' * 64}\r\n".encode(), reply)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.send_length and not reply.drip:
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if with_body:
            self._write(reply)

    def _write(self, reply: Reply) -> None:
        if reply.drip:
            self._drip(reply.body, reply)
            return
        try:
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, which is what several tests want

    def _drip(self, data: bytes, reply: Reply) -> None:
        self.close_connection = True
        try:
            for i in range(len(data)):
                if self.server.owner.stopping.wait(reply.drip if i else 0):
                    return
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HTTPTestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a download cut off by its limit, as tests intend) is not
        an error of the server's: only anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class InFlight:
    """Requests being served at once, now and at the peak; servers may share one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1


class HTTPTestServer:
    """Routes, replies and a request log around a ThreadingHTTPServer on a free port.

    `host` may be any loopback address (127.0.0.2 is another host to the downloader's
    per-host limits); `in_flight` counts this server's requests being served at once, and
    `shared`, if given, counts them together with other servers'.
    """

    def __init__(self, host: str = "127.0.0.1", shared: InFlight | None = None) -> None:
        self.host = host
        self.in_flight = InFlight()
        self.shared = shared
        self._lock = threading.Lock()
        self._routes: dict[str, list[Reply]] = {}
        self._any_query: dict[str, list[Reply]] = {}
        self._handlers: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        self.stopping = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        """The absolute URL of `path`; `host` may be a name a test resolver maps here."""
        return f"http://{host or self.host}:{self.port}{path}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request as being served (here, and in the shared count if any)."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.in_flight.counting())
            if self.shared is not None:
                stack.enter_context(self.shared.counting())
            yield

    def add(self, path: str, *replies: Reply, any_query: bool = False) -> None:
        """Serve these replies to `path` in order; the last one repeats. `any_query`: to
        `path` with any query string (or none)."""
        with self._lock:
            (self._any_query if any_query else self._routes)[path] = list(replies)

    def handle(self, path: str, handler: Handler) -> None:
        """Answer `path`, whatever its query string, with `handler(parsed query)`."""
        with self._lock:
            self._handlers[path] = handler

    def route(
        self,
        path: str,
        body: bytes = b"",
        content_type: str = "image/png",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        drip: float = 0.0,
        send_length: bool = True,
    ) -> None:
        """Serve one reply with this Content-Type to `path`."""
        all_headers = {"Content-Type": content_type, **(headers or {})}
        self.add(path, Reply(status, body, all_headers, drip, send_length))

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer `path` with a redirect to `location`."""
        self.add(path, Reply(status=status, headers={"Location": location}))

    def next_reply(self, path: str) -> Reply:
        bare = urlsplit(path).path
        with self._lock:
            replies = self._routes.get(path) or self._any_query.get(bare)
            handler = self._handlers.get(bare)
            if replies:
                return replies.pop(0) if len(replies) > 1 else replies[0]
        if handler is not None:
            return handler(parse_qs(urlsplit(path).query, keep_blank_values=True))
        return Reply(404, b"not found", {"Content-Type": "text/plain"})

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def hits(self, path: str) -> list[Seen]:
        """The requests received for `path`, oldest first."""
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def hits_any_query(self, path: str) -> list[Seen]:
        """The requests received for `path` with any query string, oldest first."""
        with self._lock:
            return [seen for seen in self.requests if seen.bare_path == path]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def fixture_bytes(name: str) -> bytes:
    """The bytes of a recorded file under tests/fixtures/."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def http_server() -> Iterator[HTTPTestServer]:
    """A real HTTP server on 127.0.0.1, closed after the test."""
    server = HTTPTestServer()
    yield server
    server.close()


@pytest.fixture
def http_hosts() -> Iterator[list[HTTPTestServer]]:
    """Three real HTTP servers on 127.0.0.2, .3 and .4 (three hosts to the per-host limits),
    sharing one count of requests in flight; closed after the test."""
    shared = InFlight()
    servers = [HTTPTestServer(f"127.0.0.{n}", shared) for n in (2, 3, 4)]
    yield servers
    for server in servers:
        server.close()
