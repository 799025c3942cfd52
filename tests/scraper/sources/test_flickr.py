"""The `flickr` source: the keyless public photo feed, one page, large image URLs."""

from __future__ import annotations

import pytest

from scraper.download import Downloader
from scraper.sources import MediaItem, get_source
from scraper.sources.common import person_name
from scraper.sources.flickr import large_url
from tests.plugins.http_server import HTTPTestServer
from tests.scraper.sources.conftest import SourceCase, base_of
from tests.scraper.sources.contract import Contract

API = "/services/feeds/photos_public.gne"
CASE = SourceCase(
    name="flickr",
    api_path=API,
    results="flickr/results.json",
    empty="flickr/empty.json",
    malformed=b'jsonFlickrFeed({"items": [',
)


class TestFlickrContract(Contract):
    case = CASE


def test_feed_items_map_every_field(http_server: HTTPTestServer, downloader: Downloader) -> None:
    CASE.serve(http_server)
    base = http_server.url("")
    assert CASE.search(http_server, downloader) == [
        MediaItem(
            url=f"{base}/media/flickr/5301_abc123_b.jpg",
            title="Golden hour",
            license=None,
            mime="image/jpeg",
            author="gina",
            landing_url=f"{base}/photos/gina/5301/",
        ),
        MediaItem(
            url=f"{base}/media/flickr/5302_def456_b.jpg",
            title="It's late",  # Flickr's invalid \' escape, repaired
            license=None,
            mime="image/jpeg",
            author="Hal O'Brien",
            landing_url=f"{base}/photos/hal/5302/",
        ),
    ]
    (seen,) = http_server.hits_any_query(API)
    assert seen.query == {"tags": ["sunset,sea"], "format": ["json"], "nojsoncallback": ["1"]}


def test_one_request_only_the_feed_has_no_paging(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    source = get_source("flickr", downloader, base_of(http_server))
    items = iter(source.search("sunset", 50, safe_search=True))
    assert http_server.requests == []
    assert len([next(items), *items]) == 2
    assert len(http_server.requests) == 1


def test_a_query_without_words_asks_nothing(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    source = get_source("flickr", downloader, base_of(http_server))
    assert list(source.search("   ", 5, safe_search=True)) == []
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("small", "large"),
    [
        (
            "https://live.staticflickr.com/65535/1_ab_m.jpg",
            "https://live.staticflickr.com/65535/1_ab_b.jpg",
        ),
        (
            "https://live.staticflickr.com/65535/1_ab.jpg",
            "https://live.staticflickr.com/65535/1_ab.jpg",
        ),
        (
            "https://live.staticflickr.com/m_m/1_ab_q.jpg",
            "https://live.staticflickr.com/m_m/1_ab_q.jpg",
        ),
    ],
)
def test_small_image_urls_become_large(small: str, large: str) -> None:
    assert large_url(small) == large


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ('nobody@flickr.com ("gina")', "gina"),
        ("ed@example.org (Ed Editor)", "Ed Editor"),
        ("Just A Name", "Just A Name"),
        ('nobody@flickr.com ("")', None),
        ("", None),
    ],
)
def test_author_names_come_out_of_email_forms(raw: str, name: str | None) -> None:
    assert person_name(raw) == name
