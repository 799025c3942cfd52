"""Logging set-up: readable text by default, one JSON object per line with `json`.

Context fields (`job_id`, `worker`, `source`, `request_id`) come from a record's `extra=` or,
when a caller did not pass them, from `log_context(...)` / the request being served, so
`grep <job_id>` over web and worker logs tells a job's whole story.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

CONTEXT_FIELDS = ("job_id", "worker", "source", "request_id")
LOG_FORMATS = ("text", "json")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_context", default=_EMPTY
)
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach fields (e.g. job_id) to every log line written inside the block."""
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> contextvars.Token[Mapping[str, str]]:
    """Like `log_context`, for code that cannot use a with-block; undo with `unbind(token)`."""
    return _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v}})


def unbind(token: contextvars.Token[Mapping[str, str]]) -> None:
    """Restore the context `bind` replaced."""
    _context.reset(token)


def request_id_from(incoming: str | None) -> str:
    """Honour an incoming X-Request-ID when it is short and plain, else mint a new one."""
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Copy bound context fields onto records that did not set them through `extra=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def record_context(record: logging.LogRecord) -> dict[str, str]:
    """The context fields a record carries, in a fixed order."""
    fields = {key: getattr(record, key, None) for key in CONTEXT_FIELDS}
    return {key: str(value) for key, value in fields.items() if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(record_context(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The readable default, with any context fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = record_context(record)
        if not context:
            return line
        head, sep, tail = line.partition("\n")
        pairs = " ".join(f"{key}={value}" for key, value in context.items())
        return f"{head} [{pairs}]{sep}{tail}"


def make_handler(log_format: str = "text", stream: Any = None) -> logging.Handler:
    """A stream handler with the context filter and the chosen formatter."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {log_format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


class Throttle(logging.Filter):
    """Let one record through per `interval` seconds; the next one says how many were held
    back meanwhile (for waitress's "Task queue depth is N", logged once per queued request)."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self._held += 1
                return False
            held, self._held, self._next = self._held, 0, now + self.interval
        if held:
            record.msg = f"{record.msg} ({held} more such warning(s) held back in the last "
            record.msg += f"{self.interval:.0f} s)"
        return True


# Loggers that warn once per event in a burst: one line per interval is enough to see it.
THROTTLED = {"waitress.queue": 60.0}


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every log record to stderr as text (default) or JSON lines (`json`)."""
    chosen = (log_format or "text").lower()
    known = chosen in LOG_FORMATS
    logging.basicConfig(
        level=level, handlers=[make_handler(chosen if known else "text")], force=True
    )
    # Alembic narrates every context it opens at INFO; the schema repair logs what it changes.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name, interval in THROTTLED.items():
        logger = logging.getLogger(name)
        for stale in [f for f in logger.filters if isinstance(f, Throttle)]:
            logger.removeFilter(stale)  # configure_logging may run more than once
        logger.addFilter(Throttle(interval))
    if not known:
        logging.getLogger(__name__).warning(
            "unknown SCRAPER_LOG_FORMAT %r; using text (choose one of %s)", log_format, LOG_FORMATS
        )
