"""Hypothesis properties of the hostile-input guards: file names, URLs and the SSRF guard.

Every example is derandomized and bounded; nothing leaves 127.0.0.1 (private addresses are
checked by `is_public_address` and `AddressGuard.resolve`, which refuse before any connect).
"""

from __future__ import annotations

import ipaddress
import socket
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from scraper.download import Downloader, DownloadPolicy, check_url, is_public_address
from scraper.download.guard import AddressGuard
from scraper.download.policy import Addresses
from scraper.errors import UnsafeURL
from scraper.storage import _WINDOWS_DEVICES, EXTENSIONS, MAX_NAME, FileStore, safe_filename
from tests.plugins.downloads import MakeDownloader, ssrf_downloader
from tests.plugins.http_server import HTTPTestServer

BOUNDED = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
NON_PUBLIC = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "64:ff9b:1::/48", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
]  # fmt: skip
PRIVATE_V4 = [n for n in NON_PUBLIC if ":" not in n]
CONTENT_TYPES = st.sampled_from(sorted(EXTENSIONS)) | st.text(max_size=40)
ODD_LOOPBACK_FORMS = ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "0177.1"]


def addresses_in(
    networks: list[str],
) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Any address of any of these networks."""
    nets = [ipaddress.ip_network(n) for n in networks]
    return st.sampled_from(nets).flatmap(
        lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i])
    )


def answering(ip: str) -> DownloadPolicy:
    """A policy whose resolver says every name is `ip` (no DNS is asked)."""

    def resolve(host: str, port: int) -> Addresses:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(family, (ip, port))]

    return DownloadPolicy(resolver=resolve)


# -- safe_filename -----------------------------------------------------------------------------


@BOUNDED
@given(name=st.none() | st.text(max_size=400), content_type=CONTENT_TYPES)
def test_safe_filename_is_one_short_printable_component_with_a_known_extension(
    name: str | None, content_type: str
) -> None:
    safe = safe_filename(name, content_type)
    stem, _, ext = safe.rpartition(".")
    assert 0 < len(safe) <= MAX_NAME and stem
    assert "/" not in safe and "\\" not in safe and ".." not in safe
    assert not safe.startswith((".", " ", "-")) and safe == safe.strip()
    assert all(c in string.ascii_letters + string.digits + "._ -" for c in safe)
    assert f".{ext}" in {*EXTENSIONS.values(), ".bin"}
    assert safe.endswith(EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ".bin"))
    assert stem.split(".")[0].strip().lower() not in _WINDOWS_DEVICES
    assert safe_filename(safe, content_type) == safe


@BOUNDED
@given(
    device=st.sampled_from(sorted(_WINDOWS_DEVICES)),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    tail=st.sampled_from(["", ".txt", ".tar.gz", " ", "  .x"]),
    directory=st.sampled_from(["", "../", "..\\..\\", "/etc/", "C:\\Windows\\"]),
)
def test_windows_device_names_are_replaced_wherever_they_hide(
    device: str, case: object, tail: str, directory: str
) -> None:
    name = directory + case(device) + tail  # type: ignore[operator]
    assert safe_filename(name, "image/png", "fallback") == "fallback.png"


# -- check_url ---------------------------------------------------------------------------------


@BOUNDED
@given(text=st.text(max_size=200))
def test_check_url_refuses_with_unsafe_url_or_accepts_never_crashes(text: str) -> None:
    try:
        check_url(text)
    except UnsafeURL:
        return
    assert text.lower().startswith(("http://", "https://"))


@BOUNDED
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "Https"]),
    host=domains(),
    port=st.none() | st.integers(1, 65535),
    path=st.text(string.ascii_letters + string.digits + "/._-", max_size=30),
)
def test_check_url_accepts_plain_http_urls(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    check_url(f"{scheme}://{host}{'' if port is None else f':{port}'}/{path}")


@BOUNDED
@given(
    scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,9}", fullmatch=True).filter(
        lambda s: s not in {"http", "https"}
    ),
    host=domains(),
)
def test_check_url_refuses_every_other_scheme(scheme: str, host: str) -> None:
    with pytest.raises(UnsafeURL, match="scheme"):
        check_url(f"{scheme}://{host}/x.png")


@BOUNDED
@given(
    user=st.text(string.ascii_letters, min_size=1, max_size=10),
    password=st.none() | st.text(string.ascii_letters, max_size=10),
    host=domains(),
)
def test_check_url_refuses_credentials(user: str, password: str | None, host: str) -> None:
    userinfo = user if password is None else f"{user}:{password}"
    with pytest.raises(UnsafeURL, match="credentials"):
        check_url(f"https://{userinfo}@{host}/x.png")


# -- is_public_address -------------------------------------------------------------------------


@BOUNDED
@given(ip=addresses_in(NON_PUBLIC))
def test_private_loopback_link_local_cgnat_and_special_addresses_are_not_public(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert not is_public_address(ip)


@BOUNDED
@given(v4=addresses_in(PRIVATE_V4), wrap=st.sampled_from(["::ffff:{}", "64:ff9b::{}"]))
def test_private_ipv4_stays_private_inside_mapped_and_nat64_ipv6(
    v4: ipaddress.IPv4Address, wrap: str
) -> None:
    assert not is_public_address(ipaddress.IPv6Address(wrap.format(v4)))


@BOUNDED
@given(v4=addresses_in(PRIVATE_V4))
def test_private_ipv4_stays_private_inside_6to4(v4: ipaddress.IPv4Address) -> None:
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80))
    assert not is_public_address(six_to_four)


@BOUNDED
@given(v4=st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_an_embedded_ipv4_is_never_more_public_than_the_address_itself(
    v4: ipaddress.IPv4Address,
) -> None:
    nat64 = ipaddress.IPv6Address(f"64:ff9b::{v4}")
    assert not is_public_address(nat64) or is_public_address(v4)


# -- AddressGuard with the resolver hook ------------------------------------------------------


@BOUNDED
@given(ip=addresses_in(NON_PUBLIC), host=domains())
def test_a_name_resolving_to_a_non_public_address_is_refused(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str
) -> None:
    with pytest.raises(UnsafeURL, match="non-public address"):
        AddressGuard(answering(str(ip))).resolve(host, 443)


@BOUNDED
@given(host=domains(), ip=addresses_in(PRIVATE_V4))
def test_one_private_answer_among_public_ones_is_enough_to_refuse(
    host: str, ip: ipaddress.IPv4Address
) -> None:
    def resolve(name: str, port: int) -> Addresses:
        return [(socket.AF_INET, ("93.184.216.34", port)), (socket.AF_INET, (str(ip), port))]

    with pytest.raises(UnsafeURL):
        AddressGuard(DownloadPolicy(resolver=resolve)).resolve(host, 80)


def test_a_name_resolving_to_a_public_address_passes_the_guard() -> None:
    """Control: the same hook with a public answer is let through."""
    assert AddressGuard(answering("93.184.216.34")).resolve("example.test", 80)


# -- the real resolver and a real server on 127.0.0.1 -----------------------------------------


@pytest.mark.parametrize("host", ODD_LOOPBACK_FORMS)
def test_decimal_octal_and_hex_loopback_forms_are_refused(
    host: str, http_server: HTTPTestServer, data_dir: Path
) -> None:
    """The system resolver reads these as 127.0.0.1; the guard must see that and refuse."""
    http_server.route("/pic.png", b"png")
    made = Downloader(FileStore(data_dir), DownloadPolicy(connect_timeout=2.0, max_retries=0))
    try:
        with pytest.raises(UnsafeURL, match="127.0.0.1"):
            made.download(f"http://{host}:{http_server.port}/pic.png")
    finally:
        made.close()
    assert http_server.requests == []


@settings(BOUNDED, max_examples=15)
@given(
    target=st.one_of(
        addresses_in(["127.0.0.0/8"]).filter(lambda ip: str(ip) != "127.0.0.1").map(str),
        addresses_in(["127.0.0.0/8"]).map(lambda ip: f"[::ffff:{ip}]"),
        st.just("[::1]"),
    )
)
def test_a_redirect_into_private_space_is_refused_and_never_fetched(
    target: str, http_server: HTTPTestServer, make_downloader: MakeDownloader
) -> None:
    http_server.redirect("/go", f"http://{target}:{http_server.port}/secret")
    http_server.route("/secret", b"secret")
    downloader = ssrf_downloader(make_downloader, max_retries=0)
    with pytest.raises(UnsafeURL, match="non-public address"):
        downloader.download(http_server.url("/go", host="media.test"))
    assert http_server.hits("/secret") == []
