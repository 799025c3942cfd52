"""The downloader: one requests Session per worker, streaming into content-addressed storage."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import socket
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3

from scraper.download.cancel import CancelToken
from scraper.download.guard import AddressGuard, GuardedAdapter, check_url
from scraper.download.policy import (
    HTML_CONTENT_TYPES,
    JSON_CONTENT_TYPES,
    DownloadPolicy,
    media_type,
)
from scraper.download.politeness import HostLimiter
from scraper.download.robots import RobotsCache
from scraper.download.timing import Deadline, backoff_seconds, retry_after_seconds
from scraper.errors import (
    BadContentType,
    BadStatus,
    DeadlineExceeded,
    DownloadError,
    MalformedJSON,
    TooLarge,
    UnsafeURL,
)
from scraper.storage import Storage, StoredFile, safe_filename

CHUNK = 64 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HEADER_CHARSET = re.compile(r";\s*charset=[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(r"<meta[^>]+charset=[\"']?([\w.:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    """A fetched document, undecoded: its final URL, body and Content-Type header."""

    url: str
    body: bytes
    content_type: str


class Downloader:
    """Fetch URLs under a DownloadPolicy; several threads may download through one at once.

    The threads of one job's pool share it, the way requests-futures shares a Session: each
    request is stateless (no cookies are relied on), urllib3's connection pools are
    thread-safe and sized so that the host limiter's slots never overflow them, and each
    thread's deadline watchdog is its own. A session passed in is re-mounted with the guarded
    adapter and stops trusting proxy variables from the environment; the caller keeps
    closing it.
    """

    def __init__(
        self,
        files: Storage,
        policy: DownloadPolicy,
        session: requests.Session | None = None,
    ) -> None:
        self.files = files
        self.policy = policy
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        # Environment proxies would be checked instead of the target; the adapter refuses them.
        self.session.trust_env = False
        self.session.headers["User-Agent"] = policy.user_agent
        self.guard = AddressGuard(policy)
        adapter = GuardedAdapter(self.guard, pool_maxsize=policy.hosts.concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.robots = RobotsCache(self.fetch_text, policy.user_agent)

    @property
    def hosts(self) -> HostLimiter:
        """The per-host limiter every download obeys (a job's pool queues by the same limits)."""
        return self.policy.hosts

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections (only if this downloader created the session)."""
        if self._owns_session:
            self.session.close()

    def download(
        self, url: str, name_hint: str | None = None, cancel: CancelToken | None = None
    ) -> StoredFile:
        """Store the file at `url`; a DownloadError (and no partial file) if anything is off,
        DownloadCancelled as soon as `cancel` is."""
        with self._budget(url, cancel) as deadline:
            return self._download(url, name_hint, deadline)

    @contextmanager
    def _budget(self, url: str, cancel: CancelToken | None = None) -> Iterator[Deadline]:
        """One deadline and watchdog for everything a fetch does, inside the host's slot."""
        check_url(url)
        deadline = Deadline(self.policy.deadline, cancel)
        with (
            self.guard.watching(self.policy.deadline) as watchdog,
            deadline.cancel.on_cancel(watchdog.fire),
            self.policy.hosts.slot(urlsplit(url).hostname or "", deadline, url),
        ):
            yield deadline

    def _download(self, url: str, name_hint: str | None, deadline: Deadline) -> StoredFile:
        response, final_url = self._open(url, deadline)
        with response:
            content_type = self._allowed_type(response, final_url)
            with self.files.partial() as (handle, path):
                digest = self._stream(response, handle, self.policy.max_bytes, deadline, final_url)
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()  # Windows cannot rename a file that is still open
                name = safe_filename(name_hint or _url_basename(final_url), content_type)
                return self.files.commit(path, digest, content_type, name)

    def fetch_page(self, url: str, max_bytes: int = 2_000_000) -> tuple[str, str]:
        """Fetch an HTML page under the same guard; return (final URL, decoded text)."""
        final_url, text, _type = self.fetch_text(url, HTML_CONTENT_TYPES, max_bytes)
        return final_url, text

    def fetch_text(
        self, url: str, accept: Collection[str], max_bytes: int = 2_000_000
    ) -> tuple[str, str, str]:
        """Fetch a text document whose media type is in `accept` (a trailing `/*` matches a
        family); return (final URL, decoded text, media type)."""
        document = self.fetch_bytes(url, accept, max_bytes)
        charset = _charset(document.content_type, document.body)
        text = document.body.decode(charset, errors="replace")
        return document.url, text, media_type(document.content_type)

    def fetch_bytes(
        self, url: str, accept: Collection[str], max_bytes: int = 2_000_000
    ) -> Document:
        """Fetch a document whose media type is in `accept`, undecoded: for parsers that find
        the encoding themselves (an XML declaration), under the same guard and limits."""
        with self._budget(url) as deadline:
            response, final_url = self._open(url, deadline)
            with response:
                content_type = response.headers.get("Content-Type", "")
                if not _accepted(media_type(content_type), accept):
                    wanted = ", ".join(sorted(accept))
                    got = media_type(content_type) or "(none)"
                    raise BadContentType(final_url, f"expected {wanted}, got {got!r}")
                buffer = io.BytesIO()
                self._stream(response, buffer, max_bytes, deadline, final_url)
                return Document(final_url, buffer.getvalue(), content_type)

    def fetch_json(self, url: str, max_bytes: int = 5_000_000) -> Any:
        """GET a JSON API under the guard, politeness and retries; MalformedJSON if unparsable."""
        final_url, text, _type = self.fetch_text(url, JSON_CONTENT_TYPES, max_bytes)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MalformedJSON(final_url, f"the response is not valid JSON: {exc}") from None

    def _open(self, url: str, deadline: Deadline) -> tuple[requests.Response, str]:
        """Follow redirects by hand (each hop re-checked); return a 2xx response, unread."""
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            response = self._get_with_retries(current, deadline)
            if response.status_code not in REDIRECT_STATUSES:
                return response, current
            response.close()
            current = _redirect_target(response, current)
        raise DownloadError(url, f"more than {self.policy.max_redirects} redirects")

    def _get_with_retries(self, url: str, deadline: Deadline) -> requests.Response:
        """GET with retries on connection errors, 429 and 5xx (not 501), honouring Retry-After."""
        check_url(url)
        attempts = self.policy.max_retries + 1
        for attempt in range(attempts):
            deadline.check(url)
            last = attempt == attempts - 1
            try:
                response = self._send(url, deadline)
            except (requests.ConnectionError, requests.Timeout) as exc:
                deadline.check_cancel(url)
                if deadline.expired():
                    raise DeadlineExceeded(
                        url, "deadline passed before the response headers"
                    ) from None
                if last:
                    raise DownloadError(url, f"connection failed: {exc}") from None
                deadline.sleep(self._backoff(attempt), url)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                wait = self._retry_wait(response, attempt)
                response.close()
                deadline.sleep(wait, url)
                continue
            return _check_status(response, url)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send(self, url: str, deadline: Deadline) -> requests.Response:
        timeout = (
            deadline.clamp(self.policy.connect_timeout),
            deadline.clamp(self.policy.read_timeout),
        )
        # identity: the size cap then counts what the server sends, not what it inflates to.
        headers = {"Accept-Encoding": "identity"}
        try:
            return self.session.get(
                url, stream=True, allow_redirects=False, timeout=timeout, headers=headers
            )
        except UnsafeURL as exc:
            raise UnsafeURL(url, exc.reason) from None
        except (requests.ConnectionError, requests.Timeout):
            raise
        except (requests.RequestException, ValueError) as exc:
            raise DownloadError(url, f"request failed: {exc}") from None

    def _retry_wait(self, response: requests.Response, attempt: int) -> float:
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is None:
            return self._backoff(attempt)
        wait = min(asked, self.policy.max_retry_after)
        # Every thread of this process holds off the host, not only the one that was told.
        self.policy.hosts.pause(urlsplit(response.url or "").hostname or "", wait)
        return wait

    def _backoff(self, attempt: int) -> float:
        return backoff_seconds(attempt, self.policy.backoff_base, self.policy.max_retry_after)

    def _allowed_type(self, response: requests.Response, url: str) -> str:
        content_type = media_type(response.headers.get("Content-Type"))
        if not self.policy.allows(content_type):
            raise BadContentType(url, f"content type {content_type or '(none)'!r} not allowed")
        return content_type

    def _stream(
        self,
        response: requests.Response,
        sink: IO[bytes],
        max_bytes: int,
        deadline: Deadline,
        url: str,
    ) -> str:
        """Copy the body into `sink` under the size cap and deadline; return its SHA-256."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(url, f"Content-Length {declared} is over the {max_bytes} byte cap")
        digest = hashlib.sha256()
        size = 0
        while chunk := self._read_chunk(response, deadline, url):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(url, f"body passed the {max_bytes} byte cap")
            digest.update(chunk)
            sink.write(chunk)
        # The watchdog ends a late body with what looks like a clean EOF: never keep that.
        deadline.check(url)
        return digest.hexdigest()

    def _read_chunk(self, response: requests.Response, deadline: Deadline, url: str) -> bytes:
        """One read1: returns whatever has arrived, so a server dripping bytes cannot stall us
        past the deadline (a blocking read of a full chunk would)."""
        deadline.check(url)
        _set_socket_timeout(response, deadline.clamp(self.policy.read_timeout))
        try:
            # Decoded (a server may gzip despite identity); urllib3 inflates at most CHUNK.
            return bytes(response.raw.read1(CHUNK, decode_content=True))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            deadline.check_cancel(url)
            if deadline.expired():
                raise DeadlineExceeded(url, "deadline passed while reading the body") from None
            raise DownloadError(url, f"reading the body failed: {exc}") from None


def _accepted(content_type: str, accept: Collection[str]) -> bool:
    family = content_type.split("/", 1)[0] + "/*"
    return content_type in accept or family in accept


def _check_status(response: requests.Response, url: str) -> requests.Response:
    status = response.status_code
    if 200 <= status < 300 or status in REDIRECT_STATUSES:
        return response
    response.close()
    raise BadStatus(url, status)


def _redirect_target(response: requests.Response, current: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise BadStatus(current, response.status_code)
    target = urljoin(current, location.strip())
    check_url(target)
    return target


def _set_socket_timeout(response: requests.Response, seconds: float) -> None:
    # The read timeout was fixed when the request started; shrink it as the deadline nears.
    sock = _socket_of(response)
    if sock is not None:
        sock.settimeout(seconds)


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The response's socket: the connection's, or (once http.client detached it from a
    `Connection: close` response) the one behind the body's file object."""
    connection: Any = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        fileobj = getattr(getattr(response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fileobj, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _url_basename(url: str) -> str:
    return unquote(urlsplit(url).path).rsplit("/", 1)[-1]


def _charset(content_type: str, body: bytes) -> str:
    """The header's charset, else a <meta charset> near the top, else UTF-8."""
    match = _HEADER_CHARSET.search(content_type)
    match = match or _META_CHARSET.search(body[:2048].decode("ascii", errors="replace"))
    try:
        return codecs.lookup(match.group(1)).name if match else "utf-8"
    except LookupError:
        return "utf-8"
