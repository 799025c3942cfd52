"""A search run without a job (`scraper search`): no job row, no database.

The same sources, round-robin and guarded downloader as a job; files land in the data
directory's content-addressed store, and nothing is recorded in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scraper.errors import DownloadError
from scraper.sources import validate_sources
from scraper.sources.roundrobin import Found, Search, SourceFailed, Sources
from scraper.storage import Storage, StoredFile
from scraper.worker.pool import ItemFetcher
from scraper.worker.report import skip_reason

if TYPE_CHECKING:
    from scraper.download import Downloader


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
    results = Sources(downloader, source_urls).search(Search(sources, query, limit, safe_search))
    while len(findings.items) < limit:
        result = next(results, None)
        if result is None:
            break
        if isinstance(result, SourceFailed):
            findings.errors[result.source] = str(result.error)
        elif result.item.url not in seen:
            seen.add(result.item.url)
            findings.items.append(result)
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
    fetch = ItemFetcher(files, downloader)
    for entry in found:
        try:
            stored = fetch(entry.item)
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
