"""`archive`: original image files of Internet Archive items (advanced search, then metadata)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from scraper.sources.base import MediaItem
from scraper.sources.common import ApiSource, guess_mime, license_from_url, text_at
from scraper.sources.url import MEDIA_EXTENSIONS as URL_MEDIA_EXTENSIONS

MAX_ROWS = 50
# Image items: their original files are photos and scans (movies would mostly be too large).
MEDIATYPES = "image"
# Images, video and audio: the same extensions the url source follows, less documents.
MEDIA_EXTENSIONS = URL_MEDIA_EXTENSIONS - {".pdf"}
# Originals the Archive itself adds to every item: the tile shown in search results.
SKIP_FORMATS = frozenset({"item tile", "thumbnail", "metadata"})
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ArchiveSource(ApiSource):
    """Search items, then list each item's files; only originals that are media are kept."""

    name = "archive"
    description = (
        "Original image files of Internet Archive items; the Archive has no safe-search filter."
    )
    default_url = "https://archive.org"
    safe_search_filter = None  # advancedsearch has no adult-content parameter

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        """One search page at a time, one item's metadata at a time, as the job pulls."""
        given, page = 0, 1
        while given < limit:
            docs, more = self._search_page(query, page, limit)
            for doc in docs:
                for item in self._files(doc):
                    if given >= limit:
                        return
                    given += 1
                    yield item
            if not more:
                return
            page += 1

    def _search_page(
        self, query: str, page: int, limit: int
    ) -> tuple[list[Mapping[str, Any]], bool]:
        rows = max(1, min(limit, MAX_ROWS))
        params = {
            "q": f"({query}) AND mediatype:({MEDIATYPES})",
            "fl[]": ["identifier", "title", "licenseurl", "creator"],
            "rows": rows,
            "page": page,
            "output": "json",
        }
        data = self.mapping(self.api("/advancedsearch.php", params), "the response")
        response = self.mapping(data.get("response") or {}, "response")
        docs = self.records(response.get("docs"), "response.docs")
        found = response.get("numFound")
        more = bool(docs) and isinstance(found, int) and page * rows < found
        return docs, more

    def _files(self, doc: Mapping[str, Any]) -> Iterator[MediaItem]:
        identifier = text_at(doc, "identifier")
        if identifier is None or not _IDENTIFIER.match(identifier):
            return
        metadata = self.mapping(self.api(f"/metadata/{identifier}"), "metadata")
        title = text_at(doc, "title") or identifier
        for entry in self.records(metadata.get("files"), "metadata.files"):
            path = _original_media_path(entry)
            if path is None:
                continue
            yield MediaItem(
                url=f"{self.base_url}/download/{identifier}/{path}",
                title=title,
                license=license_from_url(text_at(doc, "licenseurl")),
                mime=guess_mime(path),
                author=_creator(doc.get("creator")),
                landing_url=f"{self.base_url}/details/{identifier}",
                item_id=f"{identifier}/{path}",
            )


def _original_media_path(entry: Mapping[str, Any]) -> str | None:
    """The file's URL path, quoted, if it is an original media file; None otherwise.

    Names come from the item's uploader: each segment is percent-quoted and `.`/`..` or
    empty segments refuse the file, so a name cannot climb out of /download/<identifier>/.
    """
    name = text_at(entry, "name")
    if name is None or text_at(entry, "source") != "original":
        return None
    if (text_at(entry, "format") or "").lower() in SKIP_FORMATS or "__ia_thumb" in name:
        return None
    if not any(name.lower().endswith(ext) for ext in MEDIA_EXTENSIONS):
        return None
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    return "/".join(quote(segment, safe="") for segment in segments)


def _creator(value: object) -> str | None:
    """`creator` is a string, or a list when an item has several."""
    if isinstance(value, list):
        names = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        return ", ".join(names) or None
    return value.strip() if isinstance(value, str) and value.strip() else None
