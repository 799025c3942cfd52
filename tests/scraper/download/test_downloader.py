"""The downloader against a real HTTP server on 127.0.0.1: the hostile cases of issue 2."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from ops.smoke import free_port
from scraper.config import Settings
from scraper.download import DownloadPolicy, is_public_address
from scraper.download.timing import retry_after_seconds
from scraper.errors import (
    BadContentType,
    BadStatus,
    DeadlineExceeded,
    DownloadError,
    TooLarge,
    UnsafeURL,
)
from scraper.sources.selftest import make_png
from tests.plugins.downloads import MakeDownloader, ssrf_downloader
from tests.plugins.http_server import HTTPTestServer, Reply

PNG = make_png("download-test")


def stored_files(data_dir: Path) -> list[Path]:
    """Every file under the data dir (partials included)."""
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def test_download_stores_file_with_correct_sha256(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.route("/pic.png", PNG, "image/png")
    stored = make_downloader().download(http_server.url("/pic.png"), name_hint="Holiday")
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored.size_bytes == len(PNG)
    assert stored.content_type == "image/png"
    assert stored.filename == "Holiday.png"
    assert (data_dir / stored.path).read_bytes() == PNG
    assert stored.path == f"downloads/{stored.sha256[:2]}/{stored.sha256}.png"
    assert not list((data_dir / "tmp").glob("*.part"))


def test_identical_content_downloaded_twice_is_stored_once(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.route("/a.png", PNG)
    http_server.route("/b.png", PNG)
    downloader = make_downloader()
    first = downloader.download(http_server.url("/a.png"))
    second = downloader.download(http_server.url("/b.png"))
    assert first.path == second.path
    assert stored_files(data_dir) == [data_dir / first.path]


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/secret"],
)
def test_redirect_to_private_address_is_refused_and_never_fetched(
    target: str, http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.redirect("/go", target.format(port=http_server.port))
    http_server.route("/secret", PNG)
    with pytest.raises(UnsafeURL, match="non-public address"):
        ssrf_downloader(make_downloader).download(http_server.url("/go", host="media.test"))
    assert len(http_server.hits("/go")) == 1
    assert http_server.hits("/secret") == []
    assert stored_files(data_dir) == []


def test_redirect_to_name_resolving_to_loopback_is_refused(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    """The address is checked after resolution, so a friendly name is no way around it."""
    http_server.redirect("/go", http_server.url("/secret", host="internal.test"))
    http_server.route("/secret", PNG)
    with pytest.raises(UnsafeURL, match="127.0.0.1"):
        ssrf_downloader(make_downloader).download(http_server.url("/go", host="media.test"))
    assert http_server.hits("/secret") == []
    assert stored_files(data_dir) == []


def test_trusted_first_hop_is_fetched(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    """Control for the SSRF tests: the same set-up downloads when nothing is redirected."""
    http_server.route("/pic.png", PNG)
    url = http_server.url("/pic.png", host="media.test")
    assert ssrf_downloader(make_downloader).download(url).size_bytes == len(PNG)


def test_loopback_refused_when_private_networks_not_allowed(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/pic.png", PNG)
    with pytest.raises(UnsafeURL):
        strict = make_downloader(allow_private_networks=False, trusted_hosts=frozenset())
        strict.download(http_server.url("/pic.png"))
    assert http_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.png",
        "gopher://127.0.0.1:70/_x",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "/relative/x.png",
        "http:///no-host.png",
        "http://user:pw@127.0.0.1/x.png",
    ],
)
def test_other_schemes_and_malformed_urls_are_refused(
    url: str, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    with pytest.raises(UnsafeURL):
        make_downloader().download(url)
    assert stored_files(data_dir) == []


def test_redirect_to_file_scheme_is_refused(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.redirect("/go", "file:///etc/passwd")
    with pytest.raises(UnsafeURL, match="scheme"):
        make_downloader().download(http_server.url("/go"))
    assert stored_files(data_dir) == []


def test_body_over_cap_without_content_length_is_cut_while_streaming(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.route("/big.png", b"\0" * 1_000_000, send_length=False)
    with pytest.raises(TooLarge, match="body passed"):
        make_downloader(max_bytes=100_000).download(http_server.url("/big.png"))
    assert stored_files(data_dir) == []


def test_content_length_over_cap_is_refused_before_reading(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.route("/big.png", b"\0" * 200_000)
    with pytest.raises(TooLarge, match="Content-Length"):
        make_downloader(max_bytes=100_000).download(http_server.url("/big.png"))
    assert stored_files(data_dir) == []


def test_body_exactly_at_cap_is_stored(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/edge.png", b"x" * 1000, send_length=False)
    assert make_downloader(max_bytes=1000).download(http_server.url("/edge.png")).size_bytes == 1000


def test_gzip_bomb_is_cut_at_the_cap_after_inflating(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    http_server.route("/bomb.png", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLarge):
        make_downloader(max_bytes=100_000).download(http_server.url("/bomb.png"))
    assert stored_files(data_dir) == []


def test_gzipped_body_is_stored_decoded(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/z.png", gzip.compress(PNG), headers={"Content-Encoding": "gzip"})
    stored = make_downloader().download(http_server.url("/z.png"))
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()


@pytest.mark.slow
def test_server_dripping_one_byte_a_second_hits_the_total_deadline(
    http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    """Each byte arrives well within the read timeout; only the total deadline stops it."""
    http_server.route("/slow.png", PNG, drip=1.0)
    downloader = make_downloader(read_timeout=5.0, deadline=2.5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        downloader.download(http_server.url("/slow.png"))
    assert time.monotonic() - started < 3.5
    assert stored_files(data_dir) == []


@pytest.mark.slow
def test_server_dripping_its_headers_hits_the_total_deadline(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    """Read timeouts bound each recv, not the header block: the watchdog bounds the total."""
    http_server.add("/slow-head.png", Reply(200, PNG, drip=0.5, drip_head=True))
    downloader = make_downloader(read_timeout=5.0, deadline=2.0, max_retries=0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        downloader.download(http_server.url("/slow-head.png"))
    assert time.monotonic() - started < 3.0


def test_downloader_is_reusable_after_a_deadline(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/slow.png", PNG, drip=1.0)
    http_server.route("/fast.png", PNG)
    downloader = make_downloader(read_timeout=5.0, deadline=1.5)
    with pytest.raises(DeadlineExceeded):
        downloader.download(http_server.url("/slow.png"))
    assert downloader.download(http_server.url("/fast.png")).size_bytes == len(PNG)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/..%2F..%2Fetc%2Fpasswd", {}),
        ("/files/..%5C..%5Cwindows%5Cpasswd", {}),
        ("/pic", {"Content-Disposition": 'attachment; filename="../../etc/passwd"'}),
        ("/pic2", {"Content-Disposition": "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd"}),
    ],
)
def test_traversal_in_url_path_or_content_disposition_stays_in_data_dir(
    path: str,
    headers: dict[str, str],
    http_server: HTTPTestServer,
    make_downloader: MakeDownloader,
    data_dir: Path,
) -> None:
    http_server.route(path, PNG, headers=headers)
    stored = make_downloader().download(http_server.url(path))
    assert "/" not in stored.filename and ".." not in stored.filename
    assert stored.filename.endswith(".png")
    assert (data_dir / stored.path).resolve().is_relative_to(data_dir.resolve())
    assert stored_files(data_dir) == [data_dir / stored.path]


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("../../CON.exe", "file.png"),
        ("lpt1.tar.gz", "file.png"),
        ("C:\\Windows\\evil.dll", "evil.png"),
        ("/etc/shadow", "shadow.png"),
        ("x" * 500, "x" * 116 + ".png"),
    ],
)
def test_hostile_name_hint_is_sanitized(
    hint: str, expected: str, http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/pic.png", PNG)
    stored = make_downloader().download(http_server.url("/pic.png"), name_hint=hint)
    assert stored.filename == expected


def test_429_with_retry_after_is_honoured_then_succeeds(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.add(
        "/busy.png",
        Reply(429, b"slow down", {"Retry-After": "1", "Content-Type": "text/plain"}),
        Reply(200, PNG, {"Content-Type": "image/png"}),
    )
    stored = make_downloader().download(http_server.url("/busy.png"))
    first, second = http_server.hits("/busy.png")
    assert second.at - first.at >= 0.9
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()


def test_retry_after_as_http_date_is_honoured(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    http_server.add(
        "/busy.png",
        Reply(503, b"", {"Retry-After": when}),
        Reply(200, PNG, {"Content-Type": "image/png"}),
    )
    make_downloader().download(http_server.url("/busy.png"))
    first, second = http_server.hits("/busy.png")
    assert second.at - first.at >= 0.5  # HTTP dates have one-second resolution


def test_503_then_200_succeeds(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.add(
        "/flaky.png", Reply(503), Reply(502), Reply(200, PNG, {"Content-Type": "image/png"})
    )
    assert make_downloader().download(http_server.url("/flaky.png")).size_bytes == len(PNG)
    assert len(http_server.hits("/flaky.png")) == 3


def test_retry_after_past_the_deadline_fails_at_once(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.add("/busy.png", Reply(429, b"", {"Retry-After": "3600"}))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="retry"):
        make_downloader(max_retry_after=60.0, deadline=2.0).download(http_server.url("/busy.png"))
    assert time.monotonic() - started < 1.0


def test_retries_are_bounded(http_server: HTTPTestServer, make_downloader: MakeDownloader) -> None:
    http_server.add("/down.png", Reply(503))
    with pytest.raises(BadStatus) as caught:
        make_downloader(max_retries=2).download(http_server.url("/down.png"))
    assert caught.value.status == 503
    assert len(http_server.hits("/down.png")) == 3


def test_a_500_is_retried_then_succeeds(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.add("/flaky.png", Reply(500), Reply(200, PNG, {"Content-Type": "image/png"}))
    stored = make_downloader(backoff_base=0.01).download(http_server.url("/flaky.png"))
    assert stored.size_bytes == len(PNG)
    assert len(http_server.hits("/flaky.png")) == 2


def test_client_errors_are_not_retried(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    with pytest.raises(BadStatus) as caught:
        make_downloader().download(http_server.url("/missing.png"))
    assert caught.value.status == 404
    assert len(http_server.hits("/missing.png")) == 1


def test_connection_refused_is_retried_then_reported(make_downloader: MakeDownloader) -> None:
    with pytest.raises(DownloadError, match="connection failed"):
        make_downloader(max_retries=1).download(f"http://127.0.0.1:{free_port()}/x.png")


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/x-sh", ""])
def test_disallowed_content_type_is_refused(
    content_type: str, http_server: HTTPTestServer, make_downloader: MakeDownloader, data_dir: Path
) -> None:
    http_server.route("/thing", b"<html>hi</html>", content_type)
    with pytest.raises(BadContentType):
        make_downloader().download(http_server.url("/thing"))
    assert stored_files(data_dir) == []


def test_redirects_are_followed_within_the_limit(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.redirect("/r1", "/r2", 301)
    http_server.redirect("/r2", http_server.url("/pic.png"), 307)
    http_server.route("/pic.png", PNG)
    assert make_downloader().download(http_server.url("/r1")).size_bytes == len(PNG)
    http_server.redirect("/loop", "/loop")
    with pytest.raises(DownloadError, match="redirects"):
        make_downloader(max_redirects=3).download(http_server.url("/loop"))
    assert len(http_server.hits("/loop")) == 4


def test_fetch_page_returns_final_url_and_decoded_text(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.redirect("/page", "/real/page.html")
    body = "<p>café</p>".encode("latin-1")
    http_server.route("/real/page.html", body, "text/html; charset=ISO-8859-1")
    final_url, text = make_downloader().fetch_page(http_server.url("/page"))
    assert final_url == http_server.url("/real/page.html")
    assert text == "<p>café</p>"


def test_fetch_page_refuses_media_and_oversized_pages(
    http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.route("/pic.png", PNG)
    http_server.route("/huge.html", b"<p>" * 1000, "text/html", send_length=False)
    downloader = make_downloader()
    with pytest.raises(BadContentType):
        downloader.fetch_page(http_server.url("/pic.png"))
    with pytest.raises(TooLarge):
        downloader.fetch_page(http_server.url("/huge.html"), max_bytes=1000)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_only_public_addresses_pass_the_guard(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("", None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_parsing(header: str, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_policy_from_settings(data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir,
        allow_private_networks=True,
        download_max_bytes=1234,
        download_timeout=7.0,
        download_deadline=42.0,
    )
    policy = DownloadPolicy.from_settings(settings)
    assert (policy.max_bytes, policy.read_timeout, policy.deadline) == (1234, 7.0, 42.0)
    assert policy.allow_private_networks and policy.max_redirects == 5
    assert "image/png" in policy.content_types and "text/html" not in policy.content_types
