"""`openverse`: openly licensed images indexed by Openverse (anonymous API access)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from scraper.sources.base import MediaItem
from scraper.sources.common import ApiSource, cc_license, guess_mime, http_url, text_at

MAX_PAGE_SIZE = 20  # the most an anonymous client may ask for per page


class OpenverseSource(ApiSource):
    """Page through `/v1/images/` by page number until `page_count` or an empty page."""

    name = "openverse"
    description = "Openly licensed images from Openverse; safe search sends mature=false."
    default_url = "https://api.openverse.org"
    safe_search_filter = "mature=false"

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        """Yield up to `limit` images; the next page is fetched only when this one is used up."""
        given, page = 0, 1
        while given < limit:
            params = {
                "q": query,
                "page": page,
                "page_size": max(1, min(limit, MAX_PAGE_SIZE)),
                # Safe search off sends nothing: the API default then decides (it hides mature).
                "mature": "false" if safe_search else None,
            }
            data = self.mapping(self.api("/v1/images/", params), "the response")
            results = self.records(data.get("results"), "results")
            for result in results:
                item = _item(result)
                if item is not None and given < limit:
                    given += 1
                    yield item
            page_count = data.get("page_count")
            if not results or not isinstance(page_count, int) or page >= page_count:
                return
            page += 1


def _item(result: Mapping[str, Any]) -> MediaItem | None:
    url = http_url(text_at(result, "url"))
    if url is None:
        return None
    filetype = text_at(result, "filetype")
    return MediaItem(
        url=url,
        title=text_at(result, "title"),
        license=cc_license(text_at(result, "license"), text_at(result, "license_version")),
        mime=guess_mime(f"x.{filetype}") if filetype else guess_mime(url),
        author=text_at(result, "creator"),
        landing_url=http_url(text_at(result, "foreign_landing_url")),
        item_id=text_at(result, "id"),
    )
