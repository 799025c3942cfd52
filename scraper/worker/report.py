"""A job's result per source: found, stored, skipped and why, errors, how safe search applied.

Stored in `scrape_jobs.result` so the job page and API can say where files came from and
why others were not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scraper.errors import (
    BadContentType,
    BadStatus,
    DeadlineExceeded,
    RobotsDisallowed,
    TooLarge,
    UnsafeURL,
)
from scraper.sources import source_class

MAX_PROBLEMS = 5  # examples kept per source; the counts are complete
# Most specific first: the first class an error is an instance of names the reason.
SKIP_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (UnsafeURL, "unsafe_url"),
    (RobotsDisallowed, "robots_txt"),
    (BadContentType, "bad_content_type"),
    (TooLarge, "too_large"),
    (DeadlineExceeded, "timeout"),
    (BadStatus, "http_error"),
)


def skip_reason(exc: Exception) -> str:
    """A short, stable name for why an item was not stored."""
    for kind, reason in SKIP_REASONS:
        if isinstance(exc, kind):
            return reason
    return "download_error" if not isinstance(exc, OSError) else "storage_error"


def safe_search_note(source: str, safe_search: bool) -> str:
    """What safe search means for this source: the filter it maps to, or that it has none."""
    if not safe_search:
        return "off"
    applied = source_class(source).safe_search_filter
    return applied if applied else "not supported by this source: results are unfiltered"


@dataclass
class SourceReport:
    safe_search: str
    found: int = 0
    stored: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_seen: int = 0  # stored by an earlier job of the user or schedule: not downloaded
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What `dataclasses.asdict(self)` gives, made directly (its generic deep copy cost
        ~20 µs of every job's completing write)."""
        data = dict(self.__dict__)
        data["skipped"], data["problems"] = dict(self.skipped), list(self.problems)
        return data

    def skip(self, reason: str, detail: str | None = None) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if detail and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(detail[:300])


@dataclass
class JobReport:
    """Built as the job runs; `to_json` is what the job row keeps."""

    planned: int
    sources: dict[str, SourceReport]
    current: str | None = None

    @classmethod
    def start(cls, planned: int, sources: list[str], safe_search: bool) -> JobReport:
        reports = {name: SourceReport(safe_search_note(name, safe_search)) for name in sources}
        return cls(planned=planned, sources=reports)

    @property
    def stored(self) -> int:
        return sum(r.stored for r in self.sources.values())

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.sources.values())

    def skipped(self, reason: str) -> int:
        """Items not stored for `reason`, over every source."""
        return sum(r.skipped.get(reason, 0) for r in self.sources.values())

    @property
    def errors(self) -> list[str]:
        """Every reason something went wrong: failed sources, then failed items."""
        failed = [f"{name}: {r.error}" for name, r in self.sources.items() if r.error]
        return failed + [p for r in self.sources.values() for p in r.problems]

    def unfiltered(self) -> list[str]:
        """Sources that could not apply safe search although it was asked for."""
        return [n for n, r in self.sources.items() if r.safe_search.startswith("not supported")]

    def progress_message(self) -> str:
        where = f"{self.current}: " if self.current else ""
        return f"{where}{self.stored} of {self.planned} stored, {self.bytes} bytes"

    def summary(self) -> str:
        """The completion message: counts per source, skips, and any safe-search caveat."""
        per_source = ", ".join(f"{n} {r.stored}" for n, r in self.sources.items())
        parts = [f"{self.stored} files, {self.bytes} bytes ({per_source})"]
        skipped = sum(sum(r.skipped.values()) for r in self.sources.values())
        if skipped:
            parts.append(f"{skipped} skipped")
        seen = sum(r.skipped_seen for r in self.sources.values())
        if seen:
            parts.append(f"{seen} already seen")
        failed = [n for n, r in self.sources.items() if r.error]
        if failed:
            parts.append(f"failed sources: {', '.join(failed)}")
        if self.unfiltered():
            parts.append(f"safe search not available on {', '.join(self.unfiltered())}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "stored": self.stored,
            "bytes": self.bytes,
            "current_source": self.current,
            "sources": {name: r.to_json() for name, r in self.sources.items()},
        }
