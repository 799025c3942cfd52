"""`feed`: the query is an RSS 2.0 or Atom feed URL; its enclosures and Media RSS files are
the results."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urljoin

from scraper.download.guard import check_url
from scraper.download.policy import FEED_CONTENT_TYPES
from scraper.errors import ConfigError
from scraper.sources.base import MediaItem, Source
from scraper.sources.common import guess_mime, http_url, license_from_url, parse_xml, person_name

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
DC = "{http://purl.org/dc/elements/1.1/}"
CC = "{http://backend.userland.com/creativeCommonsRssModule}"
MAX_FEED_BYTES = 5_000_000


class FeedSource(Source):
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
        final_url, text, _type = self.downloader.fetch_text(
            feed_url, FEED_CONTENT_TYPES, MAX_FEED_BYTES
        )
        root = parse_xml(text, self.name)
        if root.tag == "rss":
            entries, read = root.iterfind("channel/item"), _rss_entry
            channel_license = _license(root.find("channel"))
        elif root.tag == f"{ATOM}feed":
            entries, read = root.iterfind(f"{ATOM}entry"), _atom_entry
            channel_license = _license(root)
        else:
            raise self.shape_error(f"root element {root.tag!r} is neither RSS nor Atom")
        given = 0
        for entry in entries:
            for item in read(entry, final_url, channel_license):
                if given >= limit:
                    return
                given += 1
                yield item


def _rss_entry(entry: ET.Element, base: str, default_license: str | None) -> Iterator[MediaItem]:
    author = person_name(_text(entry, "author")) or _text(entry, f"{DC}creator")
    files = [(e.get("url"), e.get("type")) for e in entry.iterfind("enclosure")]
    yield from _items(
        files + _media_files(entry),
        base,
        title=_text(entry, "title"),
        author=author,
        landing=_text(entry, "link"),
        license=_license(entry) or default_license,
    )


def _atom_entry(entry: ET.Element, base: str, default_license: str | None) -> Iterator[MediaItem]:
    links = list(entry.iterfind(f"{ATOM}link"))
    files = [(e.get("href"), e.get("type")) for e in links if e.get("rel") == "enclosure"]
    pages = [e.get("href") for e in links if e.get("rel", "alternate") == "alternate"]
    yield from _items(
        files + _media_files(entry),
        base,
        title=_text(entry, f"{ATOM}title"),
        author=_text(entry, f"{ATOM}author/{ATOM}name"),
        landing=pages[0] if pages else None,
        license=_license(entry) or default_license,
    )


def _media_files(element: ET.Element) -> list[tuple[str | None, str | None]]:
    """Media RSS `media:content`, directly or inside `media:group`; `medium` stands in for
    a missing type (`image` -> guessed from the name)."""
    found = []
    for content in element.iterfind(f".//{MEDIA}content"):
        kind = content.get("type")
        if not kind and content.get("medium") not in (None, "image", "video", "audio"):
            continue  # a document or executable: not media
        found.append((content.get("url"), kind))
    return found


def _items(
    files: list[tuple[str | None, str | None]],
    base: str,
    *,
    title: str | None,
    author: str | None,
    landing: str | None,
    license: str | None,
) -> Iterator[MediaItem]:
    seen: set[str] = set()
    for raw, kind in files:
        url = http_url(urljoin(base, raw.strip())) if raw and raw.strip() else None
        if url is None or url in seen:
            continue
        seen.add(url)
        yield MediaItem(
            url=url,
            title=title,
            license=license,
            mime=kind or guess_mime(url),
            author=author,
            landing_url=http_url(urljoin(base, landing)) if landing else None,
        )


def _license(element: ET.Element | None) -> str | None:
    """`media:license` (its href, else its text) or `creativeCommons:license`, as a name."""
    if element is None:
        return None
    media = element.find(f"{MEDIA}license")
    if media is not None:
        return license_from_url(media.get("href") or media.text)
    return license_from_url(_text(element, f"{CC}license"))


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    text = found.text if found is not None else None
    return text.strip() if text and text.strip() else None
