"""The `wikimedia` source: Commons search through the MediaWiki Action API."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from scraper.download import Downloader
from scraper.errors import SourceError
from scraper.sources import MediaItem, get_source
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.scraper.sources.conftest import SourceCase, base_of, fixture, ok
from tests.scraper.sources.contract import Contract

API = "/w/api.php"
CASE = SourceCase(
    name="wikimedia",
    api_path=API,
    results="wikimedia/results.json",
    empty="wikimedia/empty.json",
    malformed=b'{"query": {"pages": [',
)


class TestWikimediaContract(Contract):
    case = CASE


def test_results_map_every_field_in_search_rank_order(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    base = http_server.url("")
    assert CASE.search(http_server, downloader) == [
        MediaItem(
            url=f"{base}/media/wikimedia/red-sunset.png",
            title="Red sunset.png",
            license="CC0",
            mime="image/png",
            author="Unknown author",
            landing_url=f"{base}/wiki/File:Red_sunset.png",
        ),
        MediaItem(
            url=f"{base}/media/wikimedia/sunset-sea.jpg",
            title="Sunset over sea.jpg",
            license="CC BY-SA 4.0",
            mime="image/jpeg",
            author="Jane & Co",
            landing_url=f"{base}/wiki/File:Sunset_over_sea.jpg",
        ),
    ]
    (seen,) = http_server.hits_any_query(API)
    assert seen.query == {
        "action": ["query"],
        "format": ["json"],
        "formatversion": ["2"],
        "generator": ["search"],
        "gsrsearch": ["sunset sea"],
        "gsrnamespace": ["6"],
        "gsrlimit": ["50"],
        "prop": ["imageinfo"],
        "iiprop": ["url|size|mime|sha1|extmetadata"],
    }


def test_continue_keys_are_sent_back_only_when_more_items_are_needed(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    def pages(query: Mapping[str, list[str]]) -> Reply:
        name = "results" if "gsroffset" in query else "page1"
        return ok(fixture(f"wikimedia/{name}.json", http_server))

    http_server.handle(API, pages)
    source = get_source("wikimedia", downloader, base_of(http_server))
    items = iter(source.search("sunset", 3, safe_search=True))
    assert [next(items).title, next(items).title] == ["Dawn.jpg", "Dusk.jpg"]
    assert len(http_server.hits_any_query(API)) == 1
    assert next(items).title == "Red sunset.png"
    assert list(items) == []  # the limit of 3 is reached: no further request
    first, second = http_server.hits_any_query(API)
    assert second.query == {**first.query, "gsroffset": ["2"], "continue": ["gsroffset||"]}
    assert first.query["gsrlimit"] == ["3"]


def test_api_error_object_is_a_source_error(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    error = b'{"error": {"code": "badvalue", "info": "Unrecognized value for gsrnamespace"}}'
    CASE.serve_body(http_server, error)
    with pytest.raises(SourceError) as caught:
        CASE.search(http_server, downloader)
    assert str(caught.value) == "wikimedia: API error badvalue: Unrecognized value for gsrnamespace"
