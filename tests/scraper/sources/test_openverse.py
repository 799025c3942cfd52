"""The `openverse` source: `/v1/images/` paged by number, mature content off in safe search."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from scraper.download import Downloader
from scraper.sources import MediaItem, get_source
from scraper.sources.common import cc_license
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.scraper.sources.conftest import SourceCase, base_of, fixture, ok
from tests.scraper.sources.contract import Contract

API = "/v1/images/"
CASE = SourceCase(
    name="openverse",
    api_path=API,
    results="openverse/results.json",
    empty="openverse/empty.json",
    malformed=b'{"result_count": 3, "results": [{"id": ',
)


class TestOpenverseContract(Contract):
    case = CASE


def test_results_map_every_field(http_server: HTTPTestServer, downloader: Downloader) -> None:
    CASE.serve(http_server)
    base = http_server.url("")
    assert CASE.search(http_server, downloader) == [
        MediaItem(
            url=f"{base}/media/openverse/pier.jpg",
            title="Sunset at the pier",
            license="CC BY-SA 4.0",
            mime="image/jpeg",
            author="Ana",
            landing_url=f"{base}/landing/pier",
        ),
        MediaItem(
            url=f"{base}/media/openverse/sky.png",
            title="Sky, public domain",
            license="PDM",
            mime="image/png",  # no filetype: guessed from the URL
            author="Ben",
            landing_url=f"{base}/landing/sky",
        ),
    ]
    (seen,) = http_server.hits_any_query(API)
    assert seen.query == {
        "q": ["sunset sea"],
        "page": ["1"],
        "page_size": ["20"],
        "mature": ["false"],
    }


def test_safe_search_off_leaves_mature_to_the_api_default(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    source = get_source("openverse", downloader, base_of(http_server))
    assert len(list(source.search("sunset", 5, safe_search=False))) == 2
    (seen,) = http_server.hits_any_query(API)
    assert "mature" not in seen.query and seen.query["page_size"] == ["5"]


def test_second_page_is_requested_only_when_the_first_is_used_up(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    def pages(query: Mapping[str, list[str]]) -> Reply:
        name = {"1": "page1", "2": "results"}[query["page"][0]]
        return ok(fixture(f"openverse/{name}.json", http_server))

    http_server.handle(API, pages)
    source = get_source("openverse", downloader, base_of(http_server))
    items = iter(source.search("sunset", 3, safe_search=True))
    assert [next(items).title, next(items).title] == ["Dawn", "Dusk"]
    assert len(http_server.hits_any_query(API)) == 1
    assert next(items).license == "CC BY-SA 4.0"
    assert list(items) == []
    assert [s.query["page"] for s in http_server.hits_any_query(API)] == [["1"], ["2"]]


def test_paging_stops_at_page_count(http_server: HTTPTestServer, downloader: Downloader) -> None:
    CASE.serve(http_server)  # page_count 1: asking for more than it holds makes one request
    source = get_source("openverse", downloader, base_of(http_server))
    assert len(list(source.search("sunset", 50, safe_search=True))) == 2
    assert len(http_server.hits_any_query(API)) == 1


@pytest.mark.parametrize(
    ("code", "version", "name"),
    [
        ("by", "4.0", "CC BY 4.0"),
        ("by-nc-nd", "2.0", "CC BY-NC-ND 2.0"),
        ("cc0", "1.0", "CC0 1.0"),
        ("pdm", "", "PDM"),
        ("sampling+", "1.0", "CC SAMPLING+ 1.0"),
        ("", "4.0", None),
    ],
)
def test_license_codes_read_as_names(code: str, version: str, name: str | None) -> None:
    assert cc_license(code, version or None) == name
