"""Shared helpers for source tests: fixture responses with `{base}`/`{files}` filled in, and
`SourceCase`, which tells the shared contract tests how to serve one source's API. The
`downloader` they use (tests/plugins/downloads.py) trusts only 127.0.0.1, so `localhost` is a
real private address."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scraper.download import Downloader
from scraper.sources import MediaItem, get_source
from scraper.sources.common import guess_mime
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer, Reply, fixture_bytes

JSON = "application/json"


def fixture(name: str, server: HTTPTestServer, files: str | None = None) -> bytes:
    """The recorded response `sources/<name>`, its `{base}` pointing at `server` and its
    `{files}` (media file URLs) at `files`, by default the server too."""
    base = server.url("")
    text = fixture_bytes(f"sources/{name}").decode()
    return text.replace("{base}", base).replace("{files}", files or base).encode()


def ok(body: bytes, content_type: str = JSON) -> Reply:
    return Reply(200, body, {"Content-Type": content_type})


def serve_media(
    server: HTTPTestServer, *paths: str, seeds: Mapping[str, str] | None = None
) -> None:
    """Serve a PNG at each path (its bytes from the seed given, else from the path)."""
    for path in paths:
        body = make_png((seeds or {}).get(path, path))
        server.route(path, body, guess_mime(path) or "application/octet-stream")


def base_of(server: HTTPTestServer) -> dict[str, str]:
    return {name: server.url("") for name in ("wikimedia", "openverse", "archive", "flickr")}


@dataclass(frozen=True)
class SourceCase:
    """How to serve one source's API for the contract tests."""

    name: str
    api_path: str  # every results request goes here, whatever its query string
    results: str  # fixture of one complete (last) page of results
    empty: str
    malformed: bytes
    content_type: str = JSON
    # Further fixed routes: server path -> fixture (archive's per-item metadata).
    extra: Mapping[str, str] = field(default_factory=dict)
    # The source builds file URLs under its API host (archive), not from the response.
    files_on_api_host: bool = False
    query: str = "sunset sea"

    def serve(self, server: HTTPTestServer, *first: Reply, files: str | None = None) -> None:
        """Answer the API with `first` replies (if any), then the results page."""
        page = ok(fixture(self.results, server, files), self.content_type)
        server.add(self.api_path, *first, page, any_query=True)
        for path, name in self.extra.items():
            server.add(path, ok(fixture(name, server, files)))

    def serve_body(self, server: HTTPTestServer, body: bytes) -> None:
        server.add(self.api_path, ok(body, self.content_type), any_query=True)

    def query_for(self, server: HTTPTestServer) -> str:
        """The job query: search words, or for the feed source the feed's URL."""
        return server.url(self.api_path) if self.name == "feed" else self.query

    def search(
        self, server: HTTPTestServer, downloader: Downloader, limit: int = 50
    ) -> list[MediaItem]:
        source = get_source(self.name, downloader, base_of(server))
        return list(source.search(self.query_for(server), limit, safe_search=True))
