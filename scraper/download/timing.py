"""Time budgets: the total deadline per file, backoff, and the server's `Retry-After`."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scraper.download.cancel import CancelToken
from scraper.errors import DeadlineExceeded, DownloadCancelled


class Deadline:
    """A monotonic budget for one file: every wait and every socket timeout is cut to it.

    With a cancel token, every check and every wait also ends as soon as it is cancelled.
    """

    def __init__(self, seconds: float, cancel: CancelToken | None = None) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.cancel = cancel or CancelToken()

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check_cancel(self, url: str) -> None:
        """Raise DownloadCancelled once cancelled (a socket error then is the cancel's doing)."""
        if self.cancel.cancelled:
            raise DownloadCancelled(url, "the download was cancelled")

    def check(self, url: str) -> None:
        """Raise DownloadCancelled once cancelled, DeadlineExceeded once the budget is spent."""
        self.check_cancel(url)
        if self.expired():
            raise DeadlineExceeded(url, f"total deadline of {self.seconds:g}s exceeded")

    def clamp(self, timeout: float) -> float:
        """`timeout`, but never past the deadline (and never zero, which means non-blocking)."""
        return max(0.01, min(timeout, self.remaining()))

    def sleep(self, seconds: float, url: str) -> None:
        """Wait, unless the wait itself would end past the deadline; a cancel ends it early."""
        if seconds >= self.remaining():
            raise DeadlineExceeded(
                url, f"a retry in {seconds:.1f}s would pass the {self.seconds:g}s deadline"
            )
        if self.cancel.wait(seconds):
            self.check(url)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date); None if absent."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so many workers do not retry in step."""
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
