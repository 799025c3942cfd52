"""Cron expressions in a time zone: validation and the next tick, by croniter's rules.

Times are computed in the schedule's zone (zoneinfo), so a daily 02:30 follows the wall clock
across DST; on the day the clocks skip 02:30 croniter fires at the first valid time after it,
and stored times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scraper.schedules.errors import InvalidSchedule

if TYPE_CHECKING:
    from croniter import croniter as Croniter

MIN_PERIOD = timedelta(minutes=1)
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
PERIOD_SAMPLES = 3  # consecutive ticks compared when checking the shortest period


def zone(name: str) -> ZoneInfo:
    """The named IANA zone; InvalidSchedule("timezone") if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule("timezone", f"unknown time zone {name!r}") from None


def validate(cron: str, timezone: str = "UTC", now: datetime | None = None) -> datetime:
    """Check a 5-field expression (or an @alias) and its zone; return its next tick (UTC).

    Refused: seconds fields, anything croniter cannot parse, and a period under a minute.
    """
    expression = " ".join(cron.split())
    tz = zone(timezone)
    fields = len(expression.split(" "))
    if not expression.startswith("@") and fields > 5:
        raise InvalidSchedule("cron", "a seconds field (a period under one minute) is not allowed")
    if not expression.startswith("@") and fields != 5:
        raise InvalidSchedule("cron", "must have 5 fields (minute hour day month weekday)")
    if expression.startswith("@") and expression.lower() not in ALIASES:
        raise InvalidSchedule("cron", f"unknown alias {expression!r}; one of {', '.join(ALIASES)}")
    from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

    try:
        if not croniter.is_valid(expression):
            raise InvalidSchedule("cron", f"not a valid cron expression: {cron!r}")
        ticks = _ticks(expression, tz, now or datetime.now(UTC), PERIOD_SAMPLES)
    except (CroniterError, CroniterBadCronError, CroniterBadDateError, ValueError) as exc:
        raise InvalidSchedule("cron", f"not a valid cron expression: {exc}") from None
    if not ticks:
        raise InvalidSchedule("cron", "never fires")
    shortest = min((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=MIN_PERIOD)
    if shortest < MIN_PERIOD:
        raise InvalidSchedule("cron", "fires more often than once a minute")
    return ticks[0]


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after `after`, as aware UTC."""
    return _ticks(" ".join(cron.split()), zone(timezone), after, 1)[0]


def latest_tick(cron: str, timezone: str, at_or_before: datetime) -> datetime:
    """The last tick at or before `at_or_before` (the one a catch-up fires), as aware UTC."""
    tz = zone(timezone)
    start = at_or_before.astimezone(tz) + timedelta(microseconds=1)
    return _croniter(" ".join(cron.split()), start).get_prev(datetime).astimezone(UTC)


def _ticks(expression: str, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    it = _croniter(expression, after.astimezone(tz))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def _croniter(expression: str, start: datetime) -> Croniter:
    """croniter loads on first use: reading schedules (`ops doctor`) computes no tick."""
    from croniter import croniter

    return croniter(expression, start)
