"""What every API source must do, whatever its API: the shared contract.

Each tests/scraper/sources/test_<name>.py subclasses `Contract` with its `SourceCase`, so these run
once per source (a class, not flat functions: pytest then binds the case per module).
"""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from scraper.download import Downloader
from scraper.errors import BadContentType, SourceError, UnsafeURL
from tests.plugins.http_server import HTTPTestServer, Reply
from tests.scraper.sources.conftest import SourceCase, fixture, serve_media


class Contract:
    case: ClassVar[SourceCase]

    def test_empty_results_yield_nothing(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        self.case.serve_body(http_server, fixture(self.case.empty, http_server))
        assert self.case.search(http_server, downloader) == []

    def test_malformed_response_is_a_source_error_naming_the_source(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        self.case.serve_body(http_server, self.case.malformed)
        with pytest.raises(SourceError, match=f"^{self.case.name}: malformed") as caught:
            self.case.search(http_server, downloader)
        assert caught.value.source == self.case.name

    def test_limit_is_honoured(self, http_server: HTTPTestServer, downloader: Downloader) -> None:
        self.case.serve(http_server)
        assert len(self.case.search(http_server, downloader, limit=1)) == 1
        assert self.case.search(http_server, downloader, limit=0) == []

    def test_429_waits_for_retry_after_then_succeeds(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        busy = Reply(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "1"})
        self.case.serve(http_server, busy)
        started = time.monotonic()
        items = self.case.search(http_server, downloader)
        assert items and time.monotonic() - started >= 0.95
        first, second = http_server.hits_any_query(self.case.api_path)[:2]
        assert second.path == first.path and second.at - first.at >= 0.95

    def test_500_is_retried_then_succeeds(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        self.case.serve(http_server, Reply(500, b"oops", {"Content-Type": "text/plain"}))
        assert self.case.search(http_server, downloader)
        first, second = http_server.hits_any_query(self.case.api_path)[:2]
        assert (first.path, first.query) == (second.path, second.query)

    def test_file_at_a_private_address_is_refused(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        private = http_server.url("", host="localhost")
        self.case.serve(http_server, files=private)
        url = self.case.search(http_server, downloader, limit=1)[0].url
        serve_media(http_server, urlsplit(url).path, "/media/private.png")
        if self.case.files_on_api_host:  # the API host redirects to the private one
            http_server.redirect(urlsplit(url).path, private + "/media/private.png")
        else:
            assert urlsplit(url).hostname == "localhost"
        before = len(http_server.requests)
        with pytest.raises(UnsafeURL, match="non-public address"):
            downloader.download(url)
        # Nothing reached the private address (a redirect hop on the API host may have).
        assert not http_server.hits("/media/private.png")
        assert len(http_server.requests) - before <= int(self.case.files_on_api_host)

    def test_html_instead_of_a_file_is_rejected_by_content_type(
        self, http_server: HTTPTestServer, downloader: Downloader
    ) -> None:
        self.case.serve(http_server)
        url = self.case.search(http_server, downloader, limit=1)[0].url
        http_server.route(urlsplit(url).path, b"<html>login</html>", "text/html")
        with pytest.raises(BadContentType, match="text/html"):
            downloader.download(url)
