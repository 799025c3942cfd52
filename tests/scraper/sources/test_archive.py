"""The `archive` source: advanced search, then each item's original media files."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from scraper.download import Downloader
from scraper.sources import MediaItem, get_source
from scraper.sources.common import license_from_url
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.scraper.sources.conftest import SourceCase, base_of, fixture, ok
from tests.scraper.sources.contract import Contract

API = "/advancedsearch.php"
CASE = SourceCase(
    name="archive",
    api_path=API,
    results="archive/results.json",
    empty="archive/empty.json",
    malformed=b'{"response": {"docs": [{"identifier": "x"',
    extra={
        "/metadata/sunset-photos": "archive/sunset-photos.json",
        "/metadata/old-postcards": "archive/old-postcards.json",
    },
    files_on_api_host=True,
)


class TestArchiveContract(Contract):
    case = CASE


def test_original_media_files_map_every_field(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    base = http_server.url("")
    photos = {
        "title": "Sunset photos",
        "license": "CC BY 4.0",
        "author": "Carla, Dan",
        "landing_url": f"{base}/details/sunset-photos",
    }
    assert CASE.search(http_server, downloader) == [
        MediaItem(url=f"{base}/download/sunset-photos/IMG_0001.jpg", mime="image/jpeg", **photos),
        MediaItem(
            url=f"{base}/download/sunset-photos/night%20sky%20%232.png",
            mime="image/png",
            **photos,
        ),
        MediaItem(
            url=f"{base}/download/sunset-photos/a%252F..%252Fb%3Fx%3D1.png",
            mime="image/png",
            **photos,
        ),
        MediaItem(
            url=f"{base}/download/sunset-photos/album/evening.jpg", mime="image/jpeg", **photos
        ),
        MediaItem(
            url=f"{base}/download/old-postcards/postcard.tif",
            title="Old postcards",
            license=None,
            mime="image/tiff",
            author="Eve",
            landing_url=f"{base}/details/old-postcards",
        ),
    ]
    (seen,) = http_server.hits_any_query(API)
    assert seen.query == {
        "q": ["(sunset sea) AND mediatype:(image)"],
        "fl[]": ["identifier", "title", "licenseurl", "creator"],
        "rows": ["50"],
        "page": ["1"],
        "output": ["json"],
    }
    # Hostile identifiers are never looked up.
    assert [s.path for s in http_server.requests if s.path.startswith("/metadata/")] == [
        "/metadata/sunset-photos",
        "/metadata/old-postcards",
    ]


def test_items_and_pages_are_fetched_only_as_far_as_needed(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    def pages(query: Mapping[str, list[str]]) -> Reply:
        name = {"1": "page1", "2": "results"}[query["page"][0]]
        return ok(fixture(f"archive/{name}.json", http_server))

    http_server.handle(API, pages)
    for identifier in ("dawn-item", "dusk-item", "sunset-photos"):
        http_server.add(
            f"/metadata/{identifier}", ok(fixture(f"archive/{identifier}.json", http_server))
        )
    source = get_source("archive", downloader, base_of(http_server))
    items = iter(source.search("sunset", 2, safe_search=True))
    assert next(items).url.endswith("/download/dawn-item/dawn.jpg")
    assert [s.path.split("?")[0] for s in http_server.requests] == [API, "/metadata/dawn-item"]
    # dusk-item has no media original, so the second item comes from page 2.
    assert next(items).url.endswith("/download/sunset-photos/IMG_0001.jpg")
    assert list(items) == []
    assert [s.query["page"] for s in http_server.hits_any_query(API)] == [["1"], ["2"]]
    assert not http_server.hits("/metadata/old-postcards")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://creativecommons.org/licenses/by-sa/3.0/us/", "CC BY-SA 3.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
        ("https://creativecommons.org/publicdomain/mark/1.0/", "PDM"),
        ("https://example.org/my-license", "https://example.org/my-license"),
        ("", None),
    ],
)
def test_license_urls_read_as_names(url: str, name: str | None) -> None:
    assert license_from_url(url) == name
