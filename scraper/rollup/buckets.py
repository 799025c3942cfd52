"""A time column's bucket number, computed by the database so GROUP BY counts per bucket.

Exact to the microsecond on every dialect (no floating point): PostgreSQL's `extract(epoch)`
is numeric, MariaDB's TIMESTAMPDIFF counts microseconds, SQLite's stored text is split into
whole seconds and the six fraction digits SQLAlchemy always writes (the seconds from the text
without its fraction: SQLite's own parse rounds to milliseconds, so :59.9999995 became :00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, literal_column

from scraper.models import UTCDateTime

EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)


def epoch_microseconds(at: datetime) -> int:
    """Microseconds since 1970 of an aware (or naive UTC) datetime, exactly."""
    naive = UTCDateTime().process_bind_param(at, None)  # type: ignore[arg-type]
    assert naive is not None
    return (naive - EPOCH) // MICROSECOND


def bucket_of(dialect: str, column: str, start: datetime, width: timedelta) -> ColumnElement[Any]:
    """`floor((column - start) / width)` for `column` ("table.column") on this dialect;
    PostgreSQL answers the bucket's start instead (`date_bin`: native timestamp arithmetic,
    several times cheaper than numeric epochs); `bucket_number` turns either into the number."""
    sql = bucket_sql(dialect, column, start, width)
    return literal_column(sql, DateTime if dialect == "postgresql" else Integer)


def bucket_sql(dialect: str, column: str, start: datetime, width: timedelta) -> str:
    """The SQL text of `bucket_of`, for statements written as text."""
    start_us, width_us = epoch_microseconds(start), width // MICROSECOND
    if dialect == "postgresql":
        origin = (EPOCH + start_us * MICROSECOND).isoformat(sep=" ")
        return f"date_bin(interval '{width_us} microseconds', {column}, timestamp '{origin}')"
    if dialect == "mysql":
        micros = f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {column})"
        return f"(({micros}) - {start_us}) DIV {width_us}"
    micros = (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
        f"+ CAST(substr({column}, 21, 6) AS INTEGER))"
    )
    return f"(({micros}) - {start_us}) / {width_us}"


def bucket_number(value: int | float | datetime, start: datetime, width: timedelta) -> int:
    """The bucket number from what `bucket_of` selected (a number, or a naive UTC start)."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) - start) // width
    return int(value)
