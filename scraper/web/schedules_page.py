"""The `/schedules` page: the user's schedules (an admin's: all), a form to add one, and
pause / resume / remove buttons; forms carry the CSRF token like every dashboard form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from scraper import schedules
from scraper.schedules import ScheduleNotFound
from scraper.sources import source_descriptions
from scraper.web.auth import owner_filter
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.operation import POSTED, documented, validate
from scraper.web.schedules import ScheduleRequest, create_schedule

bp = Blueprint("schedules", __name__)
ACTIONS: dict[str, Callable[..., Any]] = {"pause": schedules.pause, "resume": schedules.resume}


def _default_form() -> dict[str, Any]:
    return {
        "query": "",
        "cron": "@hourly",
        "timezone": "UTC",
        "max_content": 10,
        "safe_search": True,
        "incremental": True,
        "enabled_sources": ["openverse"],
    }


def _render(form: dict[str, Any], code: int = 200, errors: dict[str, str] | None = None) -> Any:
    found = schedules.list_schedules(current_runtime().Session, owner_filter())
    html = render_template(
        "schedules.html",
        schedules=[v.to_json() for v in found],
        form=form,
        errors=errors or {},
        sources=source_descriptions(),
        limit=current_runtime().settings.max_content_limit,
    )
    return html, code


@bp.get("/schedules")
@login_required
@documented(summary="Schedules: the list and the form to add one", page=True, errors=(302, 503))
def index() -> ResponseReturnValue:
    """List the schedules and offer the form to add one."""
    return _render(_default_form())


@bp.post("/schedules")
@login_required
@documented(
    summary="Create a schedule from the form",
    page=True,
    status=302,
    errors=POSTED,
    form={
        **{name: {"type": "string"} for name in ("query", "cron", "timezone", "max_content")},
        **{name: {"type": "string"} for name in ("safe_search", "incremental")},
        "enabled_sources": {"type": "array", "items": {"type": "string"}},
    },
)
def add() -> ResponseReturnValue:
    """Create a schedule from the form (the API's validation; errors beside their field)."""
    form = {
        "query": request.form.get("query", ""),
        "cron": request.form.get("cron", ""),
        "timezone": request.form.get("timezone", "") or "UTC",
        "max_content": request.form.get("max_content", ""),
        "safe_search": "safe_search" in request.form,
        "incremental": "incremental" in request.form,
        "enabled_sources": request.form.getlist("enabled_sources"),
    }
    try:
        view = create_schedule(validate(ScheduleRequest, form, strict=False))
    except ApiError as exc:
        return _render(form, 400, exc.fields or {"": exc.message})
    flash(f"Schedule {view.schedule_id} created; next run {view.next_run_at}.", "info")
    return redirect(url_for("schedules.index"))


@bp.post("/schedules/<int:schedule_id>/<action>")
@login_required
@documented(
    summary="Pause, resume or remove a schedule",
    page=True,
    status=302,
    errors=(*POSTED, 404),
    params={"action": {"enum": ["pause", "resume", "remove"]}},
    form={},
)
def act(schedule_id: int, action: str) -> ResponseReturnValue:
    """Pause, resume or remove one schedule."""
    session, owner = current_runtime().Session, owner_filter()
    try:
        if action == "remove":
            schedules.remove(session, schedule_id, owner)
        elif action in ACTIONS:
            ACTIONS[action](session, schedule_id, owner)
        else:
            return render_template("error.html", status=404, message="no such action"), 404
    except ScheduleNotFound as exc:
        return render_template("error.html", status=404, message=str(exc)), 404
    flash(f"Schedule {schedule_id}: {action} done.", "info")
    return redirect(url_for("schedules.index"))


def init_app(app: Flask) -> None:
    """Register the schedules page."""
    app.register_blueprint(bp)
