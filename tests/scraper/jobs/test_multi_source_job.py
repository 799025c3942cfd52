"""End to end: jobs over the real sources, pointed at recorded APIs on 127.0.0.1, run by the
in-process worker on every database; what lands in `assets` and `job.result` is exact."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from scraper.config import Settings
from scraper.jobs import NewJob
from scraper.models import Asset, Base
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from scraper.worker import Worker
from tests.plugins.http_server import HTTPTestServer
from tests.scraper.sources.conftest import base_of, fixture, ok, serve_media

SOURCES = ("openverse", "wikimedia", "archive", "flickr")
APIS = {
    "openverse": ("/v1/images/", "openverse/results.json"),
    "wikimedia": ("/w/api.php", "wikimedia/results.json"),
    "archive": ("/advancedsearch.php", "archive/results.json"),
    "flickr": ("/services/feeds/photos_public.gne", "flickr/results.json"),
    "metadata 1": ("/metadata/sunset-photos", "archive/sunset-photos.json"),
    "metadata 2": ("/metadata/old-postcards", "archive/old-postcards.json"),
}
STORED = {  # path -> (source, license, author, landing path)
    "/media/openverse/pier.jpg": ("openverse", "CC BY-SA 4.0", "Ana", "/landing/pier"),
    "/media/openverse/sky.png": ("openverse", "PDM", "Ben", "/landing/sky"),
    "/media/wikimedia/red-sunset.png": (
        "wikimedia",
        "CC0",
        "Unknown author",
        "/wiki/File:Red_sunset.png",
    ),
    "/download/sunset-photos/IMG_0001.jpg": (
        "archive",
        "CC BY 4.0",
        "Carla, Dan",
        "/details/sunset-photos",
    ),
    "/download/sunset-photos/a%252F..%252Fb%3Fx%3D1.png": (
        "archive",
        "CC BY 4.0",
        "Carla, Dan",
        "/details/sunset-photos",
    ),
    "/download/sunset-photos/album/evening.jpg": (
        "archive",
        "CC BY 4.0",
        "Carla, Dan",
        "/details/sunset-photos",
    ),
    "/download/old-postcards/postcard.tif": ("archive", None, "Eve", "/details/old-postcards"),
    "/media/flickr/5301_abc123_b.jpg": ("flickr", None, "gina", "/photos/gina/5301/"),
}
DUPLICATE = "/media/wikimedia/sunset-sea.jpg"  # the same bytes as openverse's pier.jpg
PRIVATE = "/download/sunset-photos/night%20sky%20%232.png"  # redirects to localhost
HTML = "/media/flickr/5302_def456_b.jpg"  # a login page instead of the photo
FEED_FILES = {
    "/media/feed/harbour.jpg": ("CC BY 4.0", "Ed Editor", "/posts/1"),
    "/media/feed/birdsong.mp3": ("CC BY-NC 4.0", "Fay", "/posts/2"),
    "/media/feed/birds.png": ("CC BY-NC 4.0", "Fay", "/posts/2"),
}


@pytest.fixture
def sources_runtime(settings: Settings, http_server: HTTPTestServer) -> Iterator[Runtime]:
    """The runtime of a worker whose source APIs are the fixture server; only 127.0.0.1 is
    trusted, so `localhost` is a private address as it would be in production."""
    configured = settings.with_overrides(
        allow_private_networks=False,
        trusted_hosts=frozenset({"127.0.0.1"}),
        source_urls=base_of(http_server),
        host_delay=0.0,
    )
    runtime = Runtime(configured)
    Base.metadata.create_all(runtime.engine)
    yield runtime
    runtime.close()


def serve_everything(server: HTTPTestServer) -> None:
    for path, name in APIS.values():
        server.add(path, ok(fixture(name, server)), any_query=True)
    seeds = {DUPLICATE: "/media/openverse/pier.jpg"}
    serve_media(server, *STORED, DUPLICATE, *FEED_FILES, "/private.png", seeds=seeds)
    server.redirect(PRIVATE, server.url("/private.png", host="localhost"))
    server.route(HTML, b"<html><body>Sign in</body></html>", "text/html")
    server.add("/feed.xml", ok(fixture("feed/results.xml", server), "application/rss+xml"))


def run_job(runtime: Runtime, spec: NewJob) -> tuple[Any, list[Asset]]:
    job = runtime.jobs.create(spec)
    assert Worker(runtime).run_once()
    done = runtime.store.get(job.id)
    with runtime.Session() as s:
        assets = list(s.scalars(select(Asset).where(Asset.job_id == job.id)))
    return done, assets


def digest(path: str) -> str:
    return hashlib.sha256(make_png(path)).hexdigest()


@pytest.mark.slow
def test_search_job_over_four_sources_stores_exactly_the_expected_files(
    sources_runtime: Runtime, http_server: HTTPTestServer
) -> None:
    serve_everything(http_server)
    base = http_server.url("")
    job, assets = run_job(
        sources_runtime, NewJob(query="sunset", max_content=20, enabled_sources=SOURCES)
    )
    assert job.status == "completed", job.message
    assert sorted(
        (a.sha256, a.source, a.url, a.license, a.author, a.landing_url) for a in assets
    ) == sorted(
        (digest(path), source, base + path, license, author, base + landing)
        for path, (source, license, author, landing) in STORED.items()
    )
    assert all(a.title for a in assets)
    sources = job.result["sources"]
    counts = {n: (r["found"], r["stored"], r["skipped"]) for n, r in sources.items()}
    assert counts == {
        "openverse": (2, 2, {}),
        "wikimedia": (2, 1, {"duplicate_content": 1}),
        "archive": (5, 4, {"unsafe_url": 1}),
        "flickr": (2, 1, {"bad_content_type": 1}),
    }
    assert {n: r["safe_search"] for n, r in sources.items()} == {
        "openverse": "mature=false",
        **{n: "not supported by this source: results are unfiltered" for n in SOURCES[1:]},
    }
    assert all(r["error"] is None for r in sources.values())
    assert job.result["stored"] == job.downloaded == len(STORED)
    assert not http_server.hits("/private.png")


def test_feed_job_stores_every_enclosure_with_its_credits(
    sources_runtime: Runtime, http_server: HTTPTestServer
) -> None:
    serve_everything(http_server)
    base = http_server.url("")
    spec = NewJob(query=http_server.url("/feed.xml"), max_content=10, enabled_sources=("feed",))
    job, assets = run_job(sources_runtime, spec)
    assert job.status == "completed", job.message
    assert sorted((a.sha256, a.url, a.license, a.author, a.landing_url) for a in assets) == sorted(
        (digest(path), base + path, license, author, base + landing)
        for path, (license, author, landing) in FEED_FILES.items()
    )
    feed = job.result["sources"]["feed"]
    assert (feed["found"], feed["stored"], feed["skipped"], feed["error"]) == (3, 3, {}, None)
