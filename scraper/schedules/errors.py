"""Schedule errors; each names the field a caller should fix.

ScheduleError
├── InvalidSchedule       a bad cron, time zone or period (`field` names which)
└── ScheduleNotFound      no such schedule, or not the caller's
"""

from __future__ import annotations

from scraper.errors import ScraperError


class ScheduleError(ScraperError):
    """Base of every schedule error."""


class InvalidSchedule(ScheduleError):
    """A value a schedule cannot have; `field` is its name in the API body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ScheduleNotFound(ScheduleError):
    """No schedule with this id that the caller may see."""

    def __init__(self, schedule_id: object) -> None:
        super().__init__(f"no schedule with id {schedule_id!r}")
        self.schedule_id = schedule_id
