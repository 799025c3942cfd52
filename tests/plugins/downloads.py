"""The `make_downloader` and `downloader` fixtures: real downloaders over the test's data dir.

The test policy refuses private networks but trusts 127.0.0.1 by name, the way a configured
source API host is trusted, so the `http_server` answers while `localhost` stays a private
address; its limits are short so that no hostile server can hold a test for long.
`ssrf_downloader` trusts only the name `media.test`, which a test resolver maps to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scraper.download import Downloader, DownloadPolicy, system_resolver
from scraper.download.policy import Addresses, Resolver
from scraper.storage import FileStore

MakeDownloader = Callable[..., Downloader]
TEST_POLICY: dict[str, Any] = dict(
    trusted_hosts=frozenset({"127.0.0.1"}),
    connect_timeout=2.0,
    read_timeout=2.0,
    deadline=8.0,
    backoff_base=0.05,
    max_retry_after=3.0,
)


@pytest.fixture
def make_downloader(data_dir: Path) -> Iterator[MakeDownloader]:
    """Build downloaders with the test policy and keyword overrides; close them all afterwards."""
    made: list[Downloader] = []

    def make(**overrides: Any) -> Downloader:
        made.append(Downloader(FileStore(data_dir), DownloadPolicy(**(TEST_POLICY | overrides))))
        return made[-1]

    yield make
    for downloader in made:
        downloader.close()


@pytest.fixture
def downloader(make_downloader: MakeDownloader) -> Downloader:
    """A downloader with the test policy: 127.0.0.1 answers, `localhost` is refused."""
    return make_downloader()


def mapped_resolver(names: dict[str, str]) -> Resolver:
    """Resolve test names to fixed addresses; IP literals pass through; nothing hits DNS."""

    def resolve(host: str, port: int) -> Addresses:
        address = names.get(host, host)
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise socket.gaierror(f"test resolver does not know {host}") from None
        return system_resolver(address, port)

    return resolve


# media.test is the "public" first hop: trusted by name, actually 127.0.0.1.
SSRF_RESOLVER = mapped_resolver({"media.test": "127.0.0.1", "internal.test": "127.0.0.1"})


def ssrf_downloader(make: MakeDownloader, **overrides: Any) -> Downloader:
    """Private networks NOT allowed; only the name media.test may reach 127.0.0.1."""
    values: dict[str, Any] = dict(
        allow_private_networks=False,
        trusted_hosts=frozenset({"media.test"}),
        resolver=SSRF_RESOLVER,
    )
    return make(**(values | overrides))
