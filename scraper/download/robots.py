"""robots.txt for page fetches: read once per site (cached), asked before each page.

Media files found on an allowed page, and API calls, are not checked: robots.txt governs
crawling pages, the way gallery-dl and wget's page mode use it. The rules are read by Protego
(Scrapy's parser), which follows RFC 9309 where the standard library does not: `*` and `$`
in paths, and the longest matching rule wins (`Allow: /a/b` over `Disallow: /a`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Protocol
from urllib.parse import urlsplit

from protego import Protego

from scraper.errors import BadContentType, BadStatus, RobotsDisallowed

TTL = 3600.0
TEXT = frozenset({"text/*"})
ALLOW_ALL = ""
DENY_ALL = "User-agent: *\nDisallow: /\n"


class TextFetcher(Protocol):
    """What robots.txt is read through: the guarded downloader (`Downloader.fetch_text`)."""

    def __call__(
        self, url: str, accept: Collection[str], max_bytes: int = ...
    ) -> tuple[str, str, str]: ...


class RobotsCache:
    """robots.txt rules per site (scheme, host, port), fetched through the guarded downloader."""

    def __init__(self, fetch_text: TextFetcher, user_agent: str, ttl: float = TTL) -> None:
        self.fetch_text = fetch_text
        self.user_agent = user_agent
        self.ttl = ttl
        self._sites: dict[str, tuple[float, Protego]] = {}
        self._lock = threading.Lock()  # the downloader, and so its cache, is shared by threads

    def check(self, url: str) -> None:
        """Raise RobotsDisallowed if the site's robots.txt forbids our User-Agent this URL."""
        rules = self._rules(url)
        if not rules.can_fetch(url, self.user_agent):
            raise RobotsDisallowed(url, "robots.txt of this site does not allow fetching it")

    def _rules(self, url: str) -> Protego:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            cached = self._sites.get(site)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        rules = Protego.parse(self._fetch(site + "/robots.txt"))
        with self._lock:
            self._sites[site] = (time.monotonic(), rules)
        return rules

    def _fetch(self, robots_url: str) -> str:
        """The site's robots.txt; a missing file allows all, a refused one denies all."""
        try:
            _url, text, _type = self.fetch_text(robots_url, TEXT, max_bytes=500_000)
        except BadStatus as exc:
            if exc.status in (401, 403):
                return DENY_ALL
            if exc.status >= 500:
                raise RobotsDisallowed(
                    robots_url, f"robots.txt answered HTTP {exc.status}; not crawling the site"
                ) from None
            return ALLOW_ALL
        except BadContentType:
            return ALLOW_ALL  # not a robots file at all (an HTML error page at 200)
        return text
