"""A search run without a job (`scraper search`): no job row, no database.

The same sources, round-robin and guarded downloader as a job; files land in the data
directory's content-addressed store, and nothing is recorded in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scraper.errors import DownloadError
from scraper.jobs.execute import fetch_item
from scraper.jobs.plan import search_all
from scraper.jobs.report import skip_reason
from scraper.sources import MediaItem, validate_sources
from scraper.storage import Storage, StoredFile

if TYPE_CHECKING:
    from scraper.download import Downloader


@dataclass(frozen=True)
class Found:
    source: str
    item: MediaItem


@dataclass
class Findings:
    """What the sources offered (URL duplicates dropped) and which sources failed."""

    items: list[Found] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Fetched:
    """What `download` stored and what it skipped, with the reason."""

    stored: list[tuple[Found, StoredFile]] = field(default_factory=list)
    skipped: list[tuple[Found, str, str]] = field(default_factory=list)  # (found, reason, why)


def find(
    sources: list[str],
    query: str,
    limit: int,
    safe_search: bool,
    downloader: Downloader | None,
    source_urls: Mapping[str, str],
) -> Findings:
    """Up to `limit` distinct items across `sources`; UnknownSource before any request."""
    validate_sources(sources)
    findings = Findings()
    seen: set[str] = set()

    def failed(name: str, exc: Exception) -> None:
        findings.errors[name] = str(exc)

    for name, item in search_all(
        sources,
        query,
        limit,
        safe_search,
        downloader,
        source_urls,
        failed,
        lambda: len(findings.items) < limit,
    ):
        if item.url not in seen:
            seen.add(item.url)
            findings.items.append(Found(name, item))
    return findings


def download(
    found: list[Found],
    files: Storage,
    downloader: Downloader | None,
    on_item: Callable[[Found], None] = lambda found: None,
) -> Fetched:
    """Store each item once (by content); `on_item` after each, for a progress bar."""
    fetched = Fetched()
    hashes: set[str] = set()
    for entry in found:
        try:
            stored = fetch_item(entry.item, files, downloader)
        except (DownloadError, OSError) as exc:
            fetched.skipped.append((entry, skip_reason(exc), str(exc)))
        else:
            if stored.sha256 in hashes:
                fetched.skipped.append((entry, "duplicate_content", stored.sha256))
            else:
                hashes.add(stored.sha256)
                fetched.stored.append((entry, stored))
        on_item(entry)
    return fetched
