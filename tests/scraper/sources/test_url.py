"""The `url` source: one page's media links, fetched through the guarded downloader."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.download import Downloader, DownloadPolicy
from scraper.errors import ConfigError, UnsafeURL
from scraper.sources import get_source, source_names
from scraper.sources.selftest import make_png
from scraper.sources.url import UrlSource, extract_media
from scraper.storage import FileStore
from tests.plugins.http_server import HTTPTestServer, fixture_bytes

GALLERY = fixture_bytes("gallery.html")


def test_url_source_is_registered() -> None:
    assert "url" in source_names()
    assert isinstance(get_source("url"), UrlSource)


def test_gallery_links_are_resolved_against_the_final_url(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    http_server.redirect("/start", "/site/gallery.html")
    http_server.route("/site/gallery.html", GALLERY, "text/html")
    items = UrlSource(downloader).search(http_server.url("/start"), 50, safe_search=True)
    base = http_server.url("")
    assert [item.url.removeprefix(base) for item in items] == [
        "/media/cover.png",
        "/site/media/one.png",
        "/media/two.png",
        "/media/two-large.png",
        "/site/media/three.webp",
        "/site/media/poster.jpg",
        "/site/media/clip.mp4",
        "/site/media/song.mp3",
        "/site/docs/report.pdf",
    ]
    by_path = {item.url.removeprefix(base): item for item in items}
    assert by_path["/site/media/one.png"].title == "First picture"
    assert by_path["/site/media/clip.mp4"].mime == "video/mp4"
    assert by_path["/site/docs/report.pdf"].mime == "application/pdf"


def test_limit_caps_the_items(http_server: HTTPTestServer, downloader: Downloader) -> None:
    http_server.route("/gallery.html", GALLERY, "text/html")
    items = UrlSource(downloader).search(http_server.url("/gallery.html"), 3, safe_search=False)
    assert len(items) == 3
    assert UrlSource(downloader).search(http_server.url("/gallery.html"), 0, False) == []


def test_found_items_download_end_to_end(
    http_server: HTTPTestServer, downloader: Downloader, data_dir: Path
) -> None:
    page = b'<img src="a.png"><img src="b.png"><a href="a.png">again</a>'
    http_server.route("/p/index.html", page, "text/html")
    http_server.route("/p/a.png", make_png("a"))
    http_server.route("/p/b.png", make_png("b"))
    items = UrlSource(downloader).search(http_server.url("/p/index.html"), 10, False)
    stored = [downloader.download(item.url, name_hint=item.title) for item in items]
    assert len(stored) == 2
    assert {s.sha256 for s in stored} == {s.path.split("/")[-1][:-4] for s in stored}
    assert all((data_dir / s.path).is_file() for s in stored)


def test_base_href_and_fragments_and_duplicates() -> None:
    html = (
        '<base href="https://cdn.example.org/assets/">'
        '<img src="x.png#top"><img src="x.png"><img src="//other.example.org/y.gif">'
        '<meta name="twitter:image" content="https://example.org/card.jpg">'
    )
    items = extract_media(html, "https://example.org/page", 10)
    assert [item.url for item in items] == [
        "https://cdn.example.org/assets/x.png",
        "https://other.example.org/y.gif",
        "https://example.org/card.jpg",
    ]


def test_page_in_private_network_is_refused_without_the_flag(
    http_server: HTTPTestServer, data_dir: Path
) -> None:
    http_server.route("/gallery.html", GALLERY, "text/html")
    with Downloader(FileStore(data_dir), DownloadPolicy()) as strict:
        with pytest.raises(UnsafeURL):
            UrlSource(strict).search(http_server.url("/gallery.html"), 5, False)
    assert http_server.requests == []


@pytest.mark.parametrize("query", ["file:///etc/passwd", "not a url", "ftp://example.org/"])
def test_query_must_be_an_http_url(query: str, downloader: Downloader) -> None:
    with pytest.raises(UnsafeURL):
        UrlSource(downloader).search(query, 5, False)


def test_source_without_downloader_says_so() -> None:
    with pytest.raises(ConfigError, match="downloader"):
        UrlSource().search("https://example.org/", 5, False)
