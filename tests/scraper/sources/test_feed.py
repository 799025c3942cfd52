"""The `feed` source: RSS 2.0 and Atom enclosures and Media RSS files, parsed defensively."""

from __future__ import annotations

import pytest

from scraper.download import Downloader
from scraper.errors import BadContentType, RobotsDisallowed, SourceError, UnsafeURL
from scraper.sources import MediaItem, get_source
from tests.plugins.http_server import HTTPTestServer
from tests.scraper.sources.conftest import SourceCase, fixture, ok
from tests.scraper.sources.contract import Contract

RSS = "application/rss+xml"
CASE = SourceCase(
    name="feed",
    api_path="/feed.xml",
    results="feed/results.xml",
    empty="feed/empty.xml",
    malformed=b"<rss><channel><item><title>cut off",
    content_type=RSS,
)


class TestFeedContract(Contract):
    case = CASE


def search(
    server: HTTPTestServer, downloader: Downloader, path: str, limit: int = 50
) -> list[MediaItem]:
    source = get_source("feed", downloader)
    return list(source.search(server.url(path), limit, safe_search=True))


def test_rss_enclosures_and_media_content_map_every_field(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    base = http_server.url("")
    birdsong = {
        "title": "Birdsong",
        "license": "CC BY-NC 4.0",  # the channel's creativeCommons:license
        "author": "Fay",
        "landing_url": f"{base}/posts/2",
    }
    assert CASE.search(http_server, downloader) == [
        MediaItem(
            url=f"{base}/media/feed/harbour.jpg",
            title="Harbour at dusk",
            license="CC BY 4.0",  # the item's own media:license wins
            mime="image/jpeg",
            author="Ed Editor",
            landing_url=f"{base}/posts/1",
        ),
        MediaItem(url=f"{base}/media/feed/birdsong.mp3", mime="audio/mpeg", **birdsong),
        MediaItem(url=f"{base}/media/feed/birds.png", mime="image/png", **birdsong),
    ]


def test_atom_enclosures_resolve_against_the_feed_url(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    atom = fixture("feed/atom.xml", http_server)
    http_server.add("/logs/atom.xml", ok(atom, "application/atom+xml"))
    base = http_server.url("")
    assert search(http_server, downloader, "/logs/atom.xml") == [
        MediaItem(
            url=f"{base}/logs/media/moonrise.jpg",
            title="Moonrise",
            license="CC0 1.0",
            mime="image/jpeg",
            author="Gus",
            landing_url=f"{base}/log/moonrise",
        )
    ]


def test_feed_is_fetched_once_and_only_when_the_first_item_is_pulled(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve(http_server)
    items = iter(get_source("feed", downloader).search(http_server.url("/feed.xml"), 2, True))
    assert http_server.requests == []
    next(items)
    assert [s.path for s in http_server.requests] == ["/robots.txt", "/feed.xml"]
    assert len(list(items)) == 1  # the limit of 2
    assert len(http_server.hits("/feed.xml")) == 1


def test_doctype_and_entities_are_refused(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve_body(http_server, fixture("feed/bomb.xml", http_server))
    with pytest.raises(SourceError, match="^feed: .*DOCTYPE"):
        CASE.search(http_server, downloader)


def test_undeclared_entity_is_malformed(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve_body(http_server, b"<rss><channel><item><title>&xxe;</title></item></channel></rss>")
    with pytest.raises(SourceError, match="^feed: malformed XML"):
        CASE.search(http_server, downloader)


def test_a_document_that_is_not_a_feed_is_a_shape_error(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    CASE.serve_body(http_server, b"<html><body>hello</body></html>")
    with pytest.raises(SourceError, match="neither RSS nor Atom"):
        CASE.search(http_server, downloader)


def test_an_html_page_is_not_read_as_a_feed(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    http_server.route("/feed.xml", fixture("feed/results.xml", http_server), "text/html")
    with pytest.raises(BadContentType):
        CASE.search(http_server, downloader)


def test_robots_txt_is_obeyed(http_server: HTTPTestServer, downloader: Downloader) -> None:
    http_server.route("/robots.txt", b"User-agent: *\nDisallow: /feed.xml\n", "text/plain")
    CASE.serve(http_server)
    with pytest.raises(RobotsDisallowed):
        CASE.search(http_server, downloader)
    assert not http_server.hits("/feed.xml")


@pytest.mark.parametrize("query", ["file:///etc/passwd", "sunset", "ftp://example.org/feed"])
def test_query_must_be_an_http_url(query: str, downloader: Downloader) -> None:
    with pytest.raises(UnsafeURL):
        list(get_source("feed", downloader).search(query, 5, True))


RSS1 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
  <channel rdf:about="{base}/"><title>Caf\xe9 des arts</title><link>{base}/</link>
    <items><rdf:Seq><rdf:li rdf:resource="{base}/p/1"/></rdf:Seq></items></channel>
  <item rdf:about="{base}/p/1"><title>Cr\xe8me br\xfbl\xe9e</title><link>{base}/p/1</link>
    <dc:creator>Jos\xe9</dc:creator><media:content url="{base}/m/creme.jpg" type="image/jpeg"/>
  </item>
</rdf:RDF>
"""


@pytest.mark.parametrize("content_type", ["application/rdf+xml", "application/xml", "text/xml"])
def test_rss_1_0_in_latin_1_without_a_charset_header_reads_its_xml_declaration(
    http_server: HTTPTestServer, downloader: Downloader, content_type: str
) -> None:
    base = http_server.url("")
    body = RSS1.replace("{base}", base).encode("latin-1")
    http_server.add("/feed.xml", ok(body, content_type))  # no charset: only the XML says
    assert search(http_server, downloader, "/feed.xml") == [
        MediaItem(
            url=f"{base}/m/creme.jpg",
            title="Crème brûlée",
            mime="image/jpeg",
            author="José",
            landing_url=f"{base}/p/1",
        )
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_doctype_is_refused_whatever_the_encoding(
    http_server: HTTPTestServer, downloader: Downloader, encoding: str
) -> None:
    bomb = fixture("feed/bomb.xml", http_server).decode().replace('<?xml version="1.0"?>', "")
    CASE.serve_body(http_server, bomb.encode(encoding))
    with pytest.raises(SourceError, match="DOCTYPE"):
        CASE.search(http_server, downloader)
