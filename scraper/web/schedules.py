"""`/api/schedules`: saved searches fired on cron ticks (owner or admin, as jobs).

A schedule is validated twice over: as the job each tick will submit (SearchRequest's rules,
so a query a job would refuse is refused here), and as a schedule (cron, time zone, a period
of at least a minute). Every refusal is a 400 naming its field, with nothing stored.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from scraper import schedules
from scraper.schedules import InvalidSchedule, ScheduleNotFound, ScheduleSpec, ScheduleView
from scraper.web.auth import current_account, owner_filter
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.operation import documented
from scraper.web.schemas import SearchRequest

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")


class ScheduleRequest(SearchRequest):
    """`POST /api/schedules`: a search and when to run it."""

    cron: str = Field(
        max_length=120,
        description="5-field cron expression (minute hour day month weekday) or an alias "
        "such as @hourly; at most once a minute.",
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone name.")
    incremental: bool = Field(
        default=True, description="Skip items an earlier job of this schedule stored."
    )

    def spec(self) -> ScheduleSpec:
        """The schedule to store, from the request that passed validation."""
        return ScheduleSpec(
            query=self.query,
            cron=self.cron,
            timezone=self.timezone,
            max_content=self.max_content,
            safe_search=self.safe_search,
            enabled_sources=tuple(self.enabled_sources),
            incremental=self.incremental,
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]


class ScheduleDeleted(BaseModel):
    deleted: int


def create_schedule(asked: ScheduleRequest) -> ScheduleView:
    """Store the schedule for the signed-in user; 400 naming the field it refuses."""
    try:
        return schedules.create(current_runtime().Session, asked.spec(), current_account().id)
    except InvalidSchedule as exc:
        raise ApiError(400, "invalid_request", str(exc), exc.field) from None


def schedule_json(view: ScheduleView) -> dict[str, Any]:
    return view.to_json()


def not_found(exc: ScheduleNotFound) -> ApiError:
    return ApiError(404, "not_found", str(exc))


@bp.post("")
@documented(body=ScheduleRequest, response=ScheduleView, status=201, errors=(400, 413))
def create(body: ScheduleRequest) -> ResponseReturnValue:
    """Create a schedule; 201 with its id and next run."""
    return schedule_json(create_schedule(body)), 201


@bp.get("")
@documented(response=ScheduleList)
def list_all() -> ResponseReturnValue:
    """The schedules the user may see (an admin: all)."""
    found = schedules.list_schedules(current_runtime().Session, owner_filter())
    return {"schedules": [schedule_json(v) for v in found]}


@bp.get("/<int:schedule_id>")
@documented(response=ScheduleView, errors=(404,))
def detail(schedule_id: int) -> ResponseReturnValue:
    """One schedule."""
    return _apply(schedules.get, schedule_id)


@bp.delete("/<int:schedule_id>")
@documented(response=ScheduleDeleted, errors=(404,))
def remove(schedule_id: int) -> ResponseReturnValue:
    """Delete a schedule, its runs and its seen items (its jobs stay)."""
    try:
        schedules.remove(current_runtime().Session, schedule_id, owner_filter())
    except ScheduleNotFound as exc:
        raise not_found(exc) from None
    return {"deleted": schedule_id}


@bp.post("/<int:schedule_id>/pause")
@documented(response=ScheduleView, errors=(404,))
def pause(schedule_id: int) -> ResponseReturnValue:
    """Stop firing until resumed."""
    return _apply(schedules.pause, schedule_id)


@bp.post("/<int:schedule_id>/resume")
@documented(response=ScheduleView, errors=(404,))
def resume(schedule_id: int) -> ResponseReturnValue:
    """Fire again, from the next tick after now."""
    return _apply(schedules.resume, schedule_id)


def _apply(action: Any, schedule_id: int) -> dict[str, Any]:
    try:
        view: ScheduleView = action(current_runtime().Session, schedule_id, owner_filter())
    except ScheduleNotFound as exc:
        raise not_found(exc) from None
    return schedule_json(view)


def init_app(app: Flask) -> None:
    """Register the schedules API."""
    app.register_blueprint(bp)
