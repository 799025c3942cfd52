"""Cron expressions in a time zone: what is refused (naming the field) and DST by croniter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scraper.schedules import InvalidSchedule
from scraper.schedules.cron import latest_tick, next_tick, validate


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "timezone", "field", "words"),
    [
        ("* * * * * */10", "UTC", "cron", "under one minute"),
        ("61 * * * *", "UTC", "cron", "not a valid cron"),
        ("* * * *", "UTC", "cron", "5 fields"),
        ("@often", "UTC", "cron", "unknown alias"),
        ("not cron at all", "UTC", "cron", "5 fields"),
        ("0 * * * *", "Mars/Olympus_Mons", "timezone", "unknown time zone"),
        ("0 * * * *", "../../etc/passwd", "timezone", "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    cron: str, timezone: str, field: str, words: str
) -> None:
    with pytest.raises(InvalidSchedule, match=words) as caught:
        validate(cron, timezone)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("@hourly", "2026-06-01 11:00"),
        ("*/15 * * * *", "2026-06-01 10:15"),
        ("@daily", "2026-06-02 00:00"),
    ],
)
def test_valid_expressions_and_aliases_give_the_next_tick(cron: str, expected: str) -> None:
    assert validate(cron, "UTC", at("2026-06-01T10:07:00")) == at(expected)


def test_daily_0230_on_the_day_berlin_skips_it_fires_once_at_the_first_valid_time() -> None:
    """29 March 2026: Berlin's clocks go from 02:00 to 03:00; 02:30 does not exist that day."""
    ticks, t = [], at("2026-03-28T12:00:00")
    for _ in range(3):
        t = next_tick("30 2 * * *", "Europe/Berlin", t)
        ticks.append(t)
    # 03:00 CEST (01:00 UTC) on the day, then 02:30 CEST (00:30 UTC) as every summer day.
    assert ticks == [at("2026-03-29T01:00"), at("2026-03-30T00:30"), at("2026-03-31T00:30")]


def test_daily_0230_on_the_day_berlin_repeats_it_follows_croniter_and_fires_at_both() -> None:
    """25 October 2026: 02:30 happens twice (CEST, then CET); croniter fires at each."""
    first = next_tick("30 2 * * *", "Europe/Berlin", at("2026-10-24T12:00:00"))
    second = next_tick("30 2 * * *", "Europe/Berlin", first)
    third = next_tick("30 2 * * *", "Europe/Berlin", second)
    assert (first, second, third) == (
        at("2026-10-25T00:30"),
        at("2026-10-25T01:30"),
        at("2026-10-26T01:30"),
    )


def test_latest_tick_is_the_one_at_or_before_now() -> None:
    assert latest_tick("0 * * * *", "UTC", at("2026-06-01T13:00:00")) == at("2026-06-01T13:00")
    assert latest_tick("0 * * * *", "UTC", at("2026-06-01T13:59:59")) == at("2026-06-01T13:00")
    assert latest_tick("30 2 * * *", "Europe/Berlin", at("2026-03-29T05:00")) == at(
        "2026-03-29T01:00"
    )
