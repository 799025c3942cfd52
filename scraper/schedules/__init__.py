"""Schedules: saved searches fired on cron ticks, exactly once per tick (the database's
unique key decides), and the memory of seen items that makes their jobs incremental.

The names below load with their module on first use: `ops doctor` reads one schedule
module (`history`) and need not build the store's Pydantic views or the ticker's settings.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = dict.fromkeys(("InvalidSchedule", "ScheduleError", "ScheduleNotFound"), "errors")
_LAZY |= dict.fromkeys(("Fired", "fire_due", "fire_one"), "fire")
_LAZY |= dict.fromkeys(
    ("ScheduleSpec", "ScheduleView", "create", "get", "list_schedules", "pause", "remove"),
    "store",
)
_LAZY |= {"resume": "store", "Ticking": "ticker", "tick": "ticker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"scraper.schedules.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'scraper.schedules' has no attribute {name!r}")


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
