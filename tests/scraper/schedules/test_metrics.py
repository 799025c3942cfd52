"""The schedule metrics: runs by result (a process counter) and each schedule's next tick
(read from the database at scrape time)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from scraper import schedules
from scraper.runtime import Runtime
from scraper.schedules import fire_due
from tests.conftest import sqlite_only
from tests.plugins.observability import by_label, scrape
from tests.scraper.schedules.helpers import at, hourly, owner

pytestmark = sqlite_only


def test_runs_are_counted_by_result_and_next_runs_are_gauged(
    runtime: Runtime, metrics_client: FlaskClient, metrics_app: Flask
) -> None:
    before = by_label(scrape(metrics_client, metrics_app), "scraper_schedule_runs_total", "result")
    assert {"fired", "already_fired", "paused", "error"} <= set(before)
    user = owner(runtime.Session)
    first, second = hourly(runtime.Session, user), hourly(runtime.Session, user, "dogs")
    schedules.pause(runtime.Session, second, user)
    fire_due(runtime.Session, now=at(11, 0, 1))
    samples = scrape(metrics_client, metrics_app)
    after = by_label(samples, "scraper_schedule_runs_total", "result")
    assert after["fired"] - before["fired"] == 1
    nexts = by_label(samples, "scraper_schedule_next_run_timestamp_seconds", "schedule")
    assert nexts == {str(first): at(12).timestamp()}  # a paused schedule has no next run
