"""Politeness toward remote hosts: User-Agent with contact, per-host limits, Retry-After, robots."""

from __future__ import annotations

import threading
import time

import pytest

from scraper.config import Settings
from scraper.download import Downloader, DownloadPolicy
from scraper.download.politeness import HostLimiter
from scraper.download.timing import Deadline
from scraper.errors import DeadlineExceeded, RobotsDisallowed
from scraper.sources.url import UrlSource
from tests.plugins.downloads import MakeDownloader
from tests.plugins.http_server import HTTPTestServer, Reply, fixture_bytes

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 100
GALLERY = fixture_bytes("gallery.html")


def test_settings_read_source_urls_contact_trusted_hosts_and_limits() -> None:
    settings = Settings.from_env(
        {
            "SCRAPER_SOURCE_OPENVERSE_URL": "http://127.0.0.1:9/ov/",
            "SCRAPER_SOURCE_WIKIMEDIA_URL": " ",
            "SCRAPER_CONTACT": "ops@example.org",
            "SCRAPER_TRUSTED_HOSTS": "Mirror.Internal, ,cache.local",
            "SCRAPER_HOST_DELAY": "0",
            "SCRAPER_HOST_CONCURRENCY": "3",
        }
    )
    assert settings.source_urls == {"openverse": "http://127.0.0.1:9/ov"}
    assert settings.trusted_hosts == {"mirror.internal", "cache.local"}
    assert (settings.host_delay, settings.host_concurrency) == (0.0, 3)
    assert "ops@example.org" in settings.user_agent
    policy = DownloadPolicy.from_settings(settings)
    # The operator's source API hosts are trusted; the media hosts they link to are not.
    assert policy.trusted_hosts == {"mirror.internal", "cache.local", "127.0.0.1"}
    assert policy.user_agent == settings.user_agent
    assert policy.hosts is DownloadPolicy.from_settings(settings).hosts  # shared per process


def test_a_negative_host_delay_is_refused_with_the_variable_named() -> None:
    with pytest.raises(Exception, match="SCRAPER_HOST_DELAY must be zero or more"):
        Settings.from_env({"SCRAPER_HOST_DELAY": "-1"})


def test_requests_carry_the_descriptive_user_agent(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/a.png", PNG)
    agent = Settings(contact="mailto:ops@example.org").user_agent
    make_downloader(user_agent=agent).download(http_server.url("/a.png"))
    assert http_server.hits("/a.png")[0].headers["User-Agent"] == agent
    assert agent.startswith("scraper/") and "ops@example.org" in agent


def test_a_pause_that_arrives_while_a_request_waits_its_turn_holds_it_back() -> None:
    """The wait is checked again on waking: a 429 that came in meanwhile (or a request that
    started late) moves the start, not only the order in which turns were handed out."""
    limiter = HostLimiter(concurrency=2, delay=0.2)
    with limiter.slot("example.org", Deadline(10), "http://example.org/"):
        pass
    started: list[float] = []

    def fetch() -> None:
        with limiter.slot("example.org", Deadline(10), "http://example.org/"):
            started.append(time.monotonic())

    waiting = threading.Thread(target=fetch)
    waiting.start()  # its turn comes 0.2 s after the first request
    time.sleep(0.05)
    paused_at = time.monotonic()
    limiter.pause("example.org", 0.5)
    waiting.join()
    assert started[0] >= paused_at + 0.5


def test_requests_to_one_host_start_at_least_the_delay_apart() -> None:
    limiter = HostLimiter(concurrency=4, delay=0.2)
    starts: list[float] = []

    def fetch() -> None:
        with limiter.slot("example.org", Deadline(10), "http://example.org/"):
            starts.append(time.monotonic())

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps
    # Another host is not held up by the first one's queue.
    began = time.monotonic()
    with limiter.slot("other.org", Deadline(10), "http://other.org/"):
        assert time.monotonic() - began < 0.1


def test_at_most_concurrency_requests_are_in_flight_per_host() -> None:
    limiter = HostLimiter(concurrency=2, delay=0.0)
    inside, peak, lock = [0], [0], threading.Lock()

    def fetch() -> None:
        with limiter.slot("example.org", Deadline(10), "http://example.org/"):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_waiting_for_a_slot_never_passes_the_deadline() -> None:
    limiter = HostLimiter(concurrency=1, delay=0.0)
    with limiter.slot("example.org", Deadline(10), "http://example.org/"):
        with pytest.raises(DeadlineExceeded, match="no free connection slot"):
            with limiter.slot("example.org", Deadline(0.1), "http://example.org/x"):
                pass


@pytest.mark.slow
def test_retry_after_holds_off_the_whole_host_not_only_the_thread_told(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    http_server.add(
        "/busy.png",
        Reply(429, b"slow down", {"Retry-After": "1", "Content-Type": "text/plain"}),
        Reply(200, PNG, {"Content-Type": "image/png"}),
    )
    began = time.monotonic()
    downloader.download(http_server.url("/busy.png"))
    assert time.monotonic() - began >= 0.95
    hits = http_server.hits("/busy.png")
    assert len(hits) == 2 and hits[1].at - hits[0].at >= 0.95
    # The pause is recorded for the host, so every thread sharing the limiter sees it.
    http_server.add(
        "/again.png",
        Reply(429, b"", {"Retry-After": "1", "Content-Type": "text/plain"}),
        Reply(200, PNG, {"Content-Type": "image/png"}),
    )
    seen: list[float] = []

    def watch() -> None:
        while not http_server.hits("/again.png"):
            time.sleep(0.01)
        time.sleep(0.1)
        seen.append(downloader.policy.hosts.waiting_until("127.0.0.1"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    downloader.download(http_server.url("/again.png"))
    watcher.join()
    assert 0.5 < seen[0] <= 1.0


def test_robots_txt_disallow_refuses_the_page_and_names_robots(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    http_server.route("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    http_server.route("/private/gallery.html", GALLERY, "text/html")
    http_server.route("/public/gallery.html", GALLERY, "text/html")
    with pytest.raises(RobotsDisallowed, match="robots.txt"):
        UrlSource(downloader).search(http_server.url("/private/gallery.html"), 5, False)
    assert http_server.hits("/private/gallery.html") == []
    assert UrlSource(downloader).search(http_server.url("/public/gallery.html"), 5, False)
    assert len(http_server.hits("/robots.txt")) == 1  # read once per site, then cached


def test_robots_rules_for_our_agent_apply(
    http_server: HTTPTestServer, downloader: Downloader
) -> None:
    http_server.route(
        "/robots.txt",
        b"User-agent: scraper\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        "text/plain",
    )
    http_server.route("/gallery.html", GALLERY, "text/html")
    with pytest.raises(RobotsDisallowed):
        UrlSource(downloader).search(http_server.url("/gallery.html"), 5, False)


@pytest.mark.parametrize(
    ("status", "allowed"), [(404, True), (410, True), (401, False), (403, False), (500, False)]
)
def test_robots_txt_status_decides_like_crawlers_do(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, status: int, allowed: bool
) -> None:
    http_server.route("/robots.txt", b"nope", "text/plain", status=status)
    http_server.route("/gallery.html", GALLERY, "text/html")
    source = UrlSource(make_downloader(max_retries=0))
    if allowed:
        assert source.search(http_server.url("/gallery.html"), 2, False)
    else:
        with pytest.raises(RobotsDisallowed):
            source.search(http_server.url("/gallery.html"), 2, False)
        assert http_server.hits("/gallery.html") == []


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/gallery.html", True),
        ("/docs/report.pdf", False),  # Disallow: /*.pdf$
        ("/docs/report.pdf?page=2", True),  # `$` anchors the end: this one does not end so
        ("/private/gallery.html", False),  # Disallow: /private
        ("/private/public/gallery.html", True),  # the longer Allow wins
        ("/a/tmp-1/b", False),  # Disallow: /a/*/b, wildcard in the middle
    ],
)
def test_robots_wildcards_anchors_and_the_longest_match_apply(
    http_server: HTTPTestServer, downloader: Downloader, path: str, allowed: bool
) -> None:
    rules = (
        b"User-agent: *\nDisallow: /*.pdf$\nDisallow: /private\n"
        b"Allow: /private/public/\nDisallow: /a/*/b\n"
    )
    http_server.route("/robots.txt", rules, "text/plain")
    url = http_server.url(path)
    if allowed:
        downloader.robots.check(url)
    else:
        with pytest.raises(RobotsDisallowed):
            downloader.robots.check(url)
