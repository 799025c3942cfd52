"""`wikimedia`: files on Wikimedia Commons, through the MediaWiki Action API search generator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from scraper.errors import SourceError
from scraper.sources.base import MediaItem
from scraper.sources.common import ApiSource, http_url, strip_html, text_at

MAX_BATCH = 50  # gsrlimit for anonymous clients


class WikimediaSource(ApiSource):
    """Search the File namespace of Commons; each page's imageinfo carries URL and credits."""

    name = "wikimedia"
    description = (
        "Wikimedia Commons files (images, video, audio) with license and author; "
        "Commons has no safe-search filter."
    )
    default_url = "https://commons.wikimedia.org"
    safe_search_filter = None  # the search API has no such parameter

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        """Page through search results with `continue`, one batch only when it is needed."""
        params = {
            "action": "query",
            "format": "json",
            "formatversion": 2,
            "generator": "search",
            "gsrsearch": query,
            "gsrnamespace": 6,
            "gsrlimit": max(1, min(limit, MAX_BATCH)),
            "prop": "imageinfo",
            "iiprop": "url|size|mime|sha1|extmetadata",
        }
        given = 0
        resume: Mapping[str, Any] = {}
        while given < limit:
            data = self.mapping(self.api("/w/api.php", {**params, **resume}), "the response")
            self._raise_api_error(data)
            for page in self._pages(data):
                item = _item(page)
                if item is not None and given < limit:
                    given += 1
                    yield item
            # `continue` holds every key the next request must send back, whatever they are.
            resume = self.mapping(data.get("continue") or {}, "continue")
            if not resume:
                return

    def _pages(self, data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        query = self.mapping(data.get("query") or {}, "query")
        pages = self.records(query.get("pages"), "query.pages")
        # formatversion=2 lists pages in no particular order; `index` is the search rank.
        return sorted(pages, key=lambda page: _rank(page.get("index")))

    def _raise_api_error(self, data: Mapping[str, Any]) -> None:
        error = data.get("error")
        if isinstance(error, Mapping):
            code, info = error.get("code", "?"), error.get("info", "")
            raise SourceError(self.name, f"API error {code}: {info}")


def _rank(index: object) -> int:
    return index if isinstance(index, int) else 1 << 30


def _item(page: Mapping[str, Any]) -> MediaItem | None:
    """One page's first imageinfo as an item; None if it lacks a usable file URL."""
    infos = page.get("imageinfo")
    if not isinstance(infos, list) or not infos or not isinstance(infos[0], Mapping):
        return None
    info = infos[0]
    url = http_url(text_at(info, "url"))
    if url is None:
        return None
    title = text_at(page, "title")
    return MediaItem(
        url=url,
        title=title.removeprefix("File:") if title else None,
        license=strip_html(text_at(info, "extmetadata", "LicenseShortName", "value")),
        mime=text_at(info, "mime"),
        author=strip_html(text_at(info, "extmetadata", "Artist", "value")),
        landing_url=http_url(text_at(info, "descriptionurl")),
        item_id=str(page["pageid"]) if isinstance(page.get("pageid"), int) else title,
    )
