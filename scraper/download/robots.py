"""robots.txt for page fetches: read once per site (cached), asked before each page.

Media files found on an allowed page, and API calls, are not checked: robots.txt governs
crawling pages, the way gallery-dl and wget's page mode use it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Protocol
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from scraper.errors import BadContentType, BadStatus, RobotsDisallowed

TTL = 3600.0
TEXT = frozenset({"text/*"})


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
        self._sites: dict[str, tuple[float, RobotFileParser]] = {}

    def check(self, url: str) -> None:
        """Raise RobotsDisallowed if the site's robots.txt forbids our User-Agent this URL."""
        rules = self._rules(url)
        if not rules.can_fetch(self.user_agent, url):
            raise RobotsDisallowed(url, "robots.txt of this site does not allow fetching it")

    def _rules(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        cached = self._sites.get(site)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        rules = self._fetch(site + "/robots.txt")
        self._sites[site] = (time.monotonic(), rules)
        return rules

    def _fetch(self, robots_url: str) -> RobotFileParser:
        """Parse the site's robots.txt; a missing file allows all, a refused one denies all."""
        rules = RobotFileParser(robots_url)
        try:
            _url, text, _type = self.fetch_text(robots_url, TEXT, max_bytes=500_000)
        except BadStatus as exc:
            if exc.status in (401, 403):
                rules.parse(["User-agent: *", "Disallow: /"])
            elif exc.status >= 500:
                raise RobotsDisallowed(
                    robots_url, f"robots.txt answered HTTP {exc.status}; not crawling the site"
                ) from None
            else:
                rules.parse([])
            return rules
        except BadContentType:
            rules.parse([])  # not a robots file at all (an HTML error page at 200)
            return rules
        rules.parse(text.splitlines())
        return rules
