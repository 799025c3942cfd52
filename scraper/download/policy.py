"""What a download may do: sizes, times, content types, networks; one frozen dataclass."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scraper.config import Settings
from scraper.download.politeness import HostLimiter, shared_limiter

# (address family, socket address) pairs, as socket.getaddrinfo returns them.
Addresses = list[tuple[int, tuple[Any, ...]]]
Resolver = Callable[[str, int], Addresses]

# SVG is left out on purpose: it can carry script, and the API serves stored files inline.
DEFAULT_CONTENT_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/tiff",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/flac",
        "audio/webm",
        "application/pdf",
    }
)
HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml"})
JSON_CONTENT_TYPES = frozenset(
    {"application/json", "text/json", "text/javascript", "application/javascript"}
)
FEED_CONTENT_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",  # RSS 1.0
        "application/xml",
        "text/xml",
    }
)


def system_resolver(host: str, port: int) -> Addresses:
    """Resolve with the operating system, every family, TCP only."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


@dataclass(frozen=True)
class DownloadPolicy:
    """Limits for one downloader; build from the service settings with `from_settings`."""

    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0
    content_types: frozenset[str] = DEFAULT_CONTENT_TYPES
    allow_private_networks: bool = False
    max_redirects: int = 5
    max_retries: int = 3
    max_retry_after: float = 30.0
    backoff_base: float = 0.5
    # Host names exempt from the address check (an internal mirror); compared lower-case.
    trusted_hosts: frozenset[str] = frozenset()
    # Every connection resolves through this, so tests can map names without a DNS server.
    resolver: Resolver = field(default=system_resolver, compare=False)
    user_agent: str = "scraper/0.1 (media scraper service; set SCRAPER_CONTACT)"
    # Shared by every downloader of the process, so limits hold across worker threads.
    hosts: HostLimiter = field(default_factory=lambda: HostLimiter(2, 0.0), compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DownloadPolicy:
        """The policy the service settings describe; keyword overrides win."""
        values: dict[str, Any] = dict(
            max_bytes=settings.download_max_bytes,
            connect_timeout=min(10.0, settings.download_timeout),
            read_timeout=settings.download_timeout,
            deadline=settings.download_deadline,
            allow_private_networks=settings.allow_private_networks,
            trusted_hosts=settings.trusted_hosts | _source_hosts(settings),
            user_agent=settings.user_agent,
            hosts=shared_limiter(settings.host_concurrency, settings.host_delay),
        )
        values.update(overrides)
        return cls(**values)

    def allows(self, content_type: str) -> bool:
        """True if a response of this media type (parameters ignored) may be stored."""
        return media_type(content_type) in self.content_types


def _source_hosts(settings: Settings) -> frozenset[str]:
    """Hosts of the source API URLs the operator configured: trusted like SCRAPER_TRUSTED_HOSTS.

    Only API hosts: the media files they point at are still checked address by address.
    """
    return frozenset(
        (urlsplit(url).hostname or "").lower() for url in settings.source_urls.values()
    ) - {""}


def media_type(content_type: str | None) -> str:
    """`image/png; charset=x` -> `image/png`."""
    return (content_type or "").split(";", 1)[0].strip().lower()
