"""`url`: the query is a page URL; its images, video, audio and documents are the results."""

from __future__ import annotations

import mimetypes
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from scraper.download.guard import check_url
from scraper.errors import ConfigError
from scraper.sources.base import MediaItem
from scraper.sources.common import UrlQuerySource

MEDIA_EXTENSIONS = frozenset(
    ".jpg .jpeg .png .gif .webp .avif .bmp .tif .tiff .mp4 .m4v .webm .ogv .mov "
    ".mp3 .m4a .ogg .oga .opus .wav .flac .pdf".split()
)
# <meta property|name> values whose `content` is a media URL.
META_MEDIA = frozenset(
    {
        "og:image",
        "og:image:url",
        "og:image:secure_url",
        "og:video",
        "og:video:url",
        "og:video:secure_url",
        "og:audio",
        "twitter:image",
    }
)


class _MediaLinks(HTMLParser):
    """Collect candidate media links, in page order, with a title where the page gives one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.found: list[tuple[str, str | None, str | None]] = []  # (raw url, title, mime)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        title = a.get("alt") or a.get("title") or None
        if tag == "base" and self.base is None and a.get("href"):
            self.base = a["href"]
        elif tag in ("img", "source", "video", "audio", "embed"):
            self._add(a.get("src"), title, a.get("type") or None)
            self._add_srcset(a.get("srcset", ""), title)
            self._add(a.get("poster"), title, None)
        elif tag == "a" and _has_media_extension(a.get("href", "")):
            self._add(a.get("href"), title, a.get("type") or None)
        elif tag == "meta" and (a.get("property") or a.get("name", "")).lower() in META_MEDIA:
            self._add(a.get("content"), None, None)

    def _add(self, raw: str | None, title: str | None, mime: str | None) -> None:
        if raw and raw.strip():
            self.found.append((raw.strip(), title, mime))

    def _add_srcset(self, srcset: str, title: str | None) -> None:
        # "a.jpg 1x, b.jpg 2x": the URL is the first token of each candidate.
        for candidate in srcset.split(","):
            parts = candidate.split()
            if parts:
                self._add(parts[0], title, None)


def _has_media_extension(url: str) -> bool:
    path = urlsplit(url).path.lower()
    return any(path.endswith(ext) for ext in MEDIA_EXTENSIONS)


def extract_media(html: str, page_url: str, limit: int) -> list[MediaItem]:
    """Media links of a page, resolved against its (final) URL, de-duplicated, at most `limit`."""
    parser = _MediaLinks()
    parser.feed(html)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    items: dict[str, MediaItem] = {}
    for raw, title, mime in parser.found:
        if len(items) >= limit:
            break
        url = urldefrag(urljoin(base, raw)).url
        if url in items or urlsplit(url).scheme not in ("http", "https"):
            continue
        guessed = mime or mimetypes.guess_type(urlsplit(url).path)[0]
        items[url] = MediaItem(url=url, title=title, mime=guessed)
    return list(items.values())


class UrlSource(UrlQuerySource):
    """Treat the query as the address of one page and return the media it links to."""

    name = "url"
    description = "Images, video, audio and PDFs linked from one web page (the query is its URL)."

    def search(self, query: str, limit: int, safe_search: bool) -> list[MediaItem]:
        """Fetch the page through the guarded downloader; `safe_search` cannot filter a page."""
        if limit <= 0:
            return []
        if self.downloader is None:
            raise ConfigError("the url source needs a downloader")
        page_url = query.strip()
        check_url(page_url)
        self.downloader.robots.check(page_url)
        final_url, html = self.downloader.fetch_page(page_url)
        return extract_media(html, final_url, limit)
