"""Exceptions of the scraper service.

ScraperError
 +-- ConfigError            a setting is missing or malformed
 +-- JobNotFound            no job with that id in either store (carries job_id)
 +-- JobStateError          the job cannot make that transition (cancel a finished job, ...)
 +-- UnknownSource          a source name that is not in the registry
 +-- SourceError            a source's API answered something unusable (carries source)
 +-- DownloadError          a download was refused or failed (carries url and reason)
      +-- UnsafeURL         scheme, host or address not allowed (SSRF guard)
      +-- TooLarge          the body passed the size cap
      +-- DeadlineExceeded  the total time per file ran out
      +-- BadContentType    the content type is not in the allowlist
      +-- BadStatus         the server answered with an HTTP error (carries status)
      +-- RobotsDisallowed  the site's robots.txt forbids fetching that page
      +-- MalformedJSON     an API answered with a body that is not JSON
      +-- DownloadCancelled the job stopped (cancel, lost lease, shutdown) mid-download
 +-- JournalUnavailable     the fallback journal could not be written (carries path, reason)
"""

from __future__ import annotations

ONE_LINE_LIMIT = 300


def one_line(exc: BaseException, kind: bool = False, limit: int = ONE_LINE_LIMIT) -> str:
    """The exception in one line a message can carry: its first line, at most `limit` long.

    A driver error wrapped by SQLAlchemy speaks through its `orig` (the database's own words,
    not the SQL statement); `kind` puts the class name first (`OperationalError: ...`).
    The one helper for every such message (`ops.schema`, a library of its own that may not
    import the service, keeps `ops.errors.first_line`).
    """
    text = str(getattr(exc, "orig", None) or exc).strip()
    text = text.splitlines()[0].strip() if text else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if kind else text


class ScraperError(Exception):
    """Base class of every error the service raises on purpose."""


class ConfigError(ScraperError):
    """A setting is missing or malformed."""


class JobNotFound(ScraperError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class JobStateError(ScraperError):
    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class UnknownSource(ScraperError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown source {name!r}; known sources: {', '.join(sorted(known))}")
        self.name = name


class InvalidQuery(ScraperError):
    """A source can never search this query (the `url` source given something not a URL)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"the {source} source needs {reason}")
        self.source = source
        self.reason = reason


class SourceError(ScraperError):
    """A source's API answered, but with something we cannot use (malformed JSON, odd shape)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class DownloadError(ScraperError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason} ({url})")
        self.url = url
        self.reason = reason


class UnsafeURL(DownloadError):
    """The URL's scheme or resolved address is not allowed."""


class TooLarge(DownloadError):
    """The body is larger than the configured cap."""


class DeadlineExceeded(DownloadError):
    """The download took longer than the total deadline."""


class BadContentType(DownloadError):
    """The server sent a content type outside the allowlist."""


class BadStatus(DownloadError):
    """The server answered with an HTTP error status (after any retries)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP status {status}")
        self.status = status


class RobotsDisallowed(DownloadError):
    """The site's robots.txt does not allow our User-Agent to fetch that URL."""


class MalformedJSON(DownloadError):
    """An API answered 200 with a body that does not parse as JSON."""


class DownloadCancelled(DownloadError):
    """The download was stopped from outside (its job was cancelled, lost or shut down)."""


class JournalUnavailable(ScraperError):
    """The fallback journal could not be written (a full disk, a read-only file system)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"the fallback journal {path} cannot be written ({reason})")
        self.path = path
        self.reason = reason


class DatabaseNeverAnswered(ScraperError):
    """A worker's database did not answer within SCRAPER_DB_STARTUP_WAIT at start-up."""

    def __init__(self, url: str, attempts: int, budget: float, reason: str) -> None:
        super().__init__(
            f"the database at {url} did not answer within SCRAPER_DB_STARTUP_WAIT={budget:g} s "
            f"({attempts} attempt{'s' if attempts != 1 else ''}): {reason}"
        )
