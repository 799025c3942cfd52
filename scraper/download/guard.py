"""The SSRF guard: only http(s), and only public addresses, checked when each socket connects.

The address check lives inside the connection (not before the request) so the address that
was checked is the address that is connected to: a DNS answer that changes between a check
and the connect (DNS rebinding) cannot slip through, and every redirect hop and retry that
opens a socket is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.response import HTTPResponse
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from scraper.download.policy import Addresses, DownloadPolicy
from scraper.errors import UnsafeURL

ALLOWED_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not globally reachable per IANA's special-purpose registries, whatever this Python's own
# tables say: before 3.11.10 / 3.12.4, `ipaddress` calls 192.0.0.8 global (CVE-2024-4032).
_NOT_GLOBAL = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def check_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL with a host and no credentials."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UnsafeURL(url, f"malformed URL: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeURL(url, f"scheme {parts.scheme or '(none)'!r} is not allowed")
    if not hostname:
        raise UnsafeURL(url, "URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL(url, "credentials in URLs are not allowed")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and what they embed)."""
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public_address(inner):
        return False
    special = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or any(ip in net for net in _NOT_GLOBAL if net.version == ip.version)
    )
    return ip.is_global and not special


class Watchdog:
    """Shuts down a download's sockets when its deadline passes.

    Socket timeouts bound each recv, not the total: a server that drips its headers one byte
    a second would hold a worker for hours. Shutting the socket down from a timer thread
    makes the blocked read return at once, wherever it is.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self.fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        """Cover this socket too (a pooled one is covered again for each request)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def fire(self) -> None:
        """Shut every watched socket down now (the deadline passed, or the job was cancelled)."""
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class AddressGuard:
    """Resolves a host, refuses non-public answers, and connects to exactly those addresses."""

    def __init__(self, policy: DownloadPolicy) -> None:
        self.policy = policy
        self._local = threading.local()

    @contextmanager
    def watching(self, seconds: float) -> Iterator[Watchdog]:
        """Put every socket this thread uses in the next `seconds` under one Watchdog."""
        with Watchdog(seconds) as watchdog:
            self._local.watchdog = watchdog
            try:
                yield watchdog
            finally:
                self._local.watchdog = None

    def watch(self, sock: socket.socket | None) -> None:
        """Hand a socket about to be used to the current thread's Watchdog, if any."""
        watchdog: Watchdog | None = getattr(self._local, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(sock)

    def resolve(self, host: str, port: int) -> Addresses:
        """Every address of `host`; UnsafeURL if any is not public (unless allowed)."""
        host = host.strip("[]")
        addresses = self.policy.resolver(host, port)
        if not addresses:
            raise socket.gaierror(f"no addresses for {host}")
        trusted = {name.lower() for name in self.policy.trusted_hosts}
        if self.policy.allow_private_networks or host.lower() in trusted:
            return addresses
        for _family, sockaddr in addresses:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if not is_public_address(ip):
                raise UnsafeURL(host, f"{host} resolves to non-public address {ip}")
        return addresses

    def open_socket(self, conn: HTTPConnection) -> socket.socket:
        """The socket for a urllib3 connection, with urllib3's own error types."""
        try:
            return self._connect(conn)
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connecting to {conn.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"failed to connect: {exc}") from exc

    def _connect(self, conn: HTTPConnection) -> socket.socket:
        error: OSError | None = None
        for family, sockaddr in self.resolve(conn._dns_host, conn.port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in conn.socket_options or ():
                    sock.setsockopt(*option)
                if conn.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(conn.timeout)
                if conn.source_address:
                    sock.bind(conn.source_address)
                self.watch(sock)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"could not connect to {conn.host}")


def _pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return guard.open_socket(self)

        def getresponse(self) -> HTTPResponse:  # type: ignore[override]
            guard.watch(self.sock)  # a reused connection is not opened again
            return super().getresponse()

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return guard.open_socket(self)

        def getresponse(self) -> HTTPResponse:  # type: ignore[override]
            guard.watch(self.sock)
            return super().getresponse()

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every new socket goes through the AddressGuard; no proxies."""

    def __init__(self, guard: AddressGuard, pool_maxsize: int = DEFAULT_POOLSIZE) -> None:
        self.guard = guard
        super().__init__(max_retries=0, pool_maxsize=max(DEFAULT_POOLSIZE, pool_maxsize))

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.guard)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> object:
        # Through a proxy the guard would check the proxy, not the target: refuse.
        raise UnsafeURL(proxy, "proxies are not supported by the guarded downloader")
