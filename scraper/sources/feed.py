"""`feed`: the query is an RSS 1.0, RSS 2.0 or Atom feed URL; its enclosures and Media RSS
files are the results.

feedparser reads the feed: it knows the formats' variants and finds the encoding the way the
XML rules say (HTTP charset, byte order mark, XML declaration). It is only ever handed the
bytes our guarded downloader fetched, never a URL (it would fetch one itself, past the SSRF
guard, the size cap and robots.txt), and only after a DOCTYPE has been refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser

from scraper.download.guard import check_url
from scraper.download.policy import FEED_CONTENT_TYPES
from scraper.errors import ConfigError, SourceError
from scraper.sources.base import MediaItem
from scraper.sources.common import (
    UrlQuerySource,
    guess_mime,
    http_url,
    license_from_url,
    person_name,
    refuse_doctype,
)

MAX_FEED_BYTES = 5_000_000
# What feedparser reports about a feed it read in full (e.g. text/xml whose declared encoding
# overrides the us-ascii RFC 3023 implies): not malformed.
HARMLESS = feedparser.ThingsNobodyCaresAboutButMe


class FeedSource(UrlQuerySource):
    """Read one feed; every item's media files become results, with the item's credits."""

    name = "feed"
    description = (
        "Enclosures and Media RSS files of one RSS or Atom feed (the query is its URL); "
        "a feed cannot be safe-search filtered."
    )
    safe_search_filter = None

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        """Fetch and parse the feed (robots.txt first), then yield up to `limit` files."""
        if limit <= 0:
            return
        if self.downloader is None:
            raise ConfigError("the feed source needs a downloader")
        feed_url = query.strip()
        check_url(feed_url)
        self.downloader.robots.check(feed_url)
        document = self.downloader.fetch_bytes(feed_url, FEED_CONTENT_TYPES, MAX_FEED_BYTES)
        parsed = self.parse(document.body, document.url, document.content_type)
        channel_license = _license(parsed.feed)
        given = 0
        for entry in parsed.entries:
            for item in _entry_items(entry, document.url, channel_license):
                if given >= limit:
                    return
                given += 1
                yield item

    def parse(self, body: bytes, url: str, content_type: str) -> Any:
        """The feed as feedparser reads it; SourceError if it is not a well-formed feed."""
        refuse_doctype(body, self.name)
        headers = {"content-type": content_type, "content-location": url}
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
        problem = parsed.get("bozo_exception")
        if parsed.get("bozo") and not isinstance(problem, HARMLESS):
            raise SourceError(self.name, f"malformed XML: {problem}")
        if not parsed.get("version"):
            raise self.shape_error("the document is neither RSS nor Atom")
        return parsed


def _entry_items(entry: Mapping[str, Any], base: str, channel: str | None) -> Iterator[MediaItem]:
    """The media files of one entry, with its title, author, landing page and license."""
    seen: set[str] = set()
    for raw, kind in _files(entry):
        url = http_url(urljoin(base, raw.strip())) if raw and raw.strip() else None
        if url is None or url in seen:
            continue
        seen.add(url)
        landing = entry.get("link")
        yield MediaItem(
            url=url,
            title=_clean(entry.get("title")),
            license=_license(entry) or channel,
            mime=kind or guess_mime(url),
            author=_author(entry),
            landing_url=http_url(urljoin(base, landing)) if landing else None,
            # An entry's guid (else its link), and which of its files: one entry, many files.
            item_id=f"{entry.get('id') or landing or ''}|{url}",
        )


def _files(entry: Mapping[str, Any]) -> list[tuple[str | None, str | None]]:
    """Enclosures (RSS `enclosure`, Atom `rel="enclosure"`), then Media RSS `media:content`,
    directly or in a `media:group`; `medium` stands in for a missing type, and a medium that
    is not media (a document) is left out."""
    files = [(e.get("href"), e.get("type")) for e in entry.get("enclosures") or ()]
    for content in entry.get("media_content") or ():
        kind = content.get("type")
        if not kind and content.get("medium") not in (None, "image", "video", "audio"):
            continue
        files.append((content.get("url"), kind))
    return files


def _author(entry: Mapping[str, Any]) -> str | None:
    """The author's name: from `email (Name)`, a `dc:creator` or an Atom `<name>`."""
    detail = entry.get("author_detail") or {}
    return _clean(detail.get("name")) or person_name(entry.get("author"))


def _license(element: Mapping[str, Any]) -> str | None:
    """`media:license` (its href, else its text) or `creativeCommons:license`, as a name."""
    media = element.get("media_license")
    if media:
        return license_from_url(media.get("href") or media.get("content"))
    return license_from_url(element.get("license"))


def _clean(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
