"""Schedules: saved searches fired on cron ticks, exactly once per tick (the database's
unique key decides), and the memory of seen items that makes their jobs incremental."""

from scraper.schedules.errors import InvalidSchedule, ScheduleError, ScheduleNotFound
from scraper.schedules.fire import Fired, fire_due, fire_one
from scraper.schedules.store import (
    ScheduleSpec,
    ScheduleView,
    create,
    get,
    list_schedules,
    pause,
    remove,
    resume,
)
from scraper.schedules.ticker import Ticking, tick

__all__ = [
    "Fired",
    "InvalidSchedule",
    "ScheduleError",
    "ScheduleNotFound",
    "ScheduleSpec",
    "ScheduleView",
    "Ticking",
    "create",
    "fire_due",
    "fire_one",
    "get",
    "list_schedules",
    "pause",
    "remove",
    "resume",
    "tick",
]
