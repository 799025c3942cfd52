"""`flickr`: recent public photos tagged with the query's words (keyless public feed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from scraper.download.policy import JSON_CONTENT_TYPES
from scraper.errors import ConfigError, SourceError
from scraper.sources.base import MediaItem
from scraper.sources.common import ApiSource, guess_mime, http_url, person_name, text_at

FEED_PATH = "/services/feeds/photos_public.gne"
# `..._m.jpg` is the 240 px "small" size the feed links; `_b` is the 1024 px "large" size
# of the same photo on the same static host (Flickr's documented size suffixes).
_SMALL = re.compile(r"_m(\.[A-Za-z0-9]+)$")
# Flickr escapes apostrophes as \' in this feed, which JSON does not allow.
_BAD_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\'")


class FlickrSource(ApiSource):
    """One request: the feed has no paging and no license field (items carry license None)."""

    name = "flickr"
    description = (
        "Recent public Flickr photos tagged with the query's words (keyless public feed: "
        "no safe-search filter, no license information)."
    )
    default_url = "https://www.flickr.com"
    safe_search_filter = None  # only the keyed flickr.photos.search API has safe_search

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        """Yield up to `limit` photos of the one feed page (about 20 items)."""
        tags = ",".join(query.split())
        if limit <= 0 or not tags:
            return
        data = self.mapping(self._feed(tags), "the response")
        given = 0
        for entry in self.records(data.get("items"), "items"):
            item = _item(entry)
            if item is not None and given < limit:
                given += 1
                yield item

    def _feed(self, tags: str) -> Any:
        """Fetch the feed as text and repair its escaping before parsing it as JSON."""
        if self.downloader is None:
            raise ConfigError("the flickr source needs a downloader")
        params = {"tags": tags, "format": "json", "nojsoncallback": 1}
        url = f"{self.base_url}{FEED_PATH}?{urlencode(params)}"
        final_url, text, _type = self.downloader.fetch_text(url, JSON_CONTENT_TYPES)
        try:
            return json.loads(_BAD_ESCAPE.sub(r"\1'", text))
        except ValueError as exc:
            raise SourceError(self.name, f"malformed JSON from {final_url}: {exc}") from None


def large_url(small: str) -> str:
    """The large (`_b`, 1024 px) version of a feed image URL; other URLs unchanged."""
    return _SMALL.sub(r"_b\1", small)


def _item(entry: Mapping[str, Any]) -> MediaItem | None:
    small = http_url(text_at(entry, "media", "m"))
    if small is None:
        return None
    url = large_url(small)
    return MediaItem(
        url=url,
        title=text_at(entry, "title"),
        license=None,  # the public feed does not say; the landing page does
        mime=guess_mime(url),
        author=person_name(text_at(entry, "author")),
        landing_url=http_url(text_at(entry, "link")),
        item_id=text_at(entry, "link"),
    )
