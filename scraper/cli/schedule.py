"""`scraper schedule add|list|pause|resume|remove`: the schedules of the API, from a shell.

The CLI speaks to the database directly, as an administrator would: a schedule it adds
belongs to `--user` (default: the first admin account), and it sees everyone's schedules.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from scraper.cli.base import database_url_option, main, runtime_for
from scraper.runtime import Runtime

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _runtime(database_url: str | None) -> Runtime:
    return runtime_for(database_url, existing=True)


def _owner(runtime: Runtime, name: str | None) -> int:
    """The id of user `name`, or of the first admin; ClickException if there is none."""
    from scraper.models import Role, User, UserRole

    with runtime.Session() as s:
        query = select(User.id).order_by(User.id)
        if name is not None:
            query = query.where(User.username == name)
        else:
            query = query.join(UserRole, UserRole.user_id == User.id).join(
                Role, (Role.id == UserRole.role_id) & (Role.name == "admin")
            )
        found = s.scalar(query.limit(1))
    if found is None:
        who = f"no user named {name!r}" if name else "no admin user"
        raise click.ClickException(f"{who}; create one with `scraper create-user NAME --admin`")
    return found


def _line(view: dict[str, Any]) -> str:
    state = f"paused ({view['paused_reason']})" if view["paused"] else f"next {view['next_run_at']}"
    last = f"last job {view['last_job_id']} {view['last_status']}" if view["last_job_id"] else ""
    sources = ",".join(view["enabled_sources"])
    parts = [f"{view['schedule_id']}", repr(view["query"]), f"[{sources}]", view["cron"]]
    return "  ".join([*parts, view["timezone"], state, last]).rstrip()


def _show(view: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(view, indent=2) if as_json else _line(view))


@main.group()
def schedule() -> None:
    """Saved searches that run on a cron schedule."""


@schedule.command("add")
@click.argument("query")
@click.option("--cron", "cron_expr", required=True, help="5-field cron expression or @hourly.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone name.")
@click.option(
    "--sources", default="selftest", show_default=True, help="Comma-separated source names."
)
@click.option(
    "--max-content", default=10, show_default=True, type=int, help="Items each run stores at most."
)
@click.option(
    "--safe-search/--no-safe-search", default=True, show_default=True, help="Filter mature results."
)
@click.option("--incremental/--all-items", default=True, show_default=True, help="Skip seen items.")
@click.option("--user", default=None, help="Owner (default: the first admin).")
@json_option
@database_url_option
def add(
    query: str,
    cron_expr: str,
    timezone: str,
    sources: str,
    max_content: int,
    safe_search: bool,
    incremental: bool,
    user: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Add a schedule that searches QUERY on every tick of --cron (in --timezone)."""
    from pydantic import ValidationError

    from scraper import schedules
    from scraper.web.schedules import ScheduleRequest
    from scraper.web.schemas import describe_errors

    runtime = _runtime(database_url)
    body = {
        "query": query,
        "cron": cron_expr,
        "timezone": timezone,
        "max_content": max_content,
        "safe_search": safe_search,
        "incremental": incremental,
        "enabled_sources": [s.strip() for s in sources.split(",") if s.strip()],
    }
    context = {"max_content_limit": runtime.settings.max_content_limit}
    try:
        asked = ScheduleRequest.model_validate(body, context=context)
    except ValidationError as exc:
        raise click.UsageError(_option_words(describe_errors(exc)[1])) from None
    owner = _owner(runtime, user)
    try:
        view = schedules.create(runtime.Session, asked.spec(), owner)
    except schedules.InvalidSchedule as exc:
        raise click.UsageError(_option_words(str(exc))) from None
    _show(view.to_json(), as_json)


def _option_words(message: str) -> str:
    """The API's field names as this command's options."""
    for field, option in (("enabled_sources", "--sources"), ("max_content", "--max-content")):
        message = message.replace(field, option)
    for field in ("cron", "timezone"):
        message = message.replace(f"{field}:", f"--{field}:")
    return message


@schedule.command("list")
@json_option
@database_url_option
def list_cmd(as_json: bool, database_url: str | None) -> None:
    """List every schedule: next run, last run, last job and its outcome."""
    from scraper import schedules

    views = [v.to_json() for v in schedules.list_schedules(_runtime(database_url).Session, None)]
    if as_json:
        click.echo(json.dumps({"schedules": views}, indent=2))
        return
    for view in views:
        click.echo(_line(view))
    if not views:
        click.echo("no schedules", err=True)


def _change(action: str, schedule_id: int, database_url: str | None, as_json: bool) -> None:
    from scraper import schedules

    runtime = _runtime(database_url)
    try:
        if action == "remove":
            schedules.remove(runtime.Session, schedule_id, None)
            click.echo(f"schedule {schedule_id} removed", err=True)
            return
        change = schedules.pause if action == "pause" else schedules.resume
        _show(change(runtime.Session, schedule_id, None).to_json(), as_json)
    except schedules.ScheduleNotFound as exc:
        raise click.ClickException(str(exc)) from None


@schedule.command("pause")
@click.argument("schedule_id", type=int)
@json_option
@database_url_option
def pause_cmd(schedule_id: int, as_json: bool, database_url: str | None) -> None:
    """Stop schedule SCHEDULE_ID from firing until it is resumed."""
    _change("pause", schedule_id, database_url, as_json)


@schedule.command("resume")
@click.argument("schedule_id", type=int)
@json_option
@database_url_option
def resume_cmd(schedule_id: int, as_json: bool, database_url: str | None) -> None:
    """Resume schedule SCHEDULE_ID; its next tick is computed from now (missed ticks never fire)."""
    _change("resume", schedule_id, database_url, as_json)


@schedule.command("remove")
@click.argument("schedule_id", type=int)
@database_url_option
def remove_cmd(schedule_id: int, database_url: str | None) -> None:
    """Delete schedule SCHEDULE_ID with its runs and seen items (its jobs stay)."""
    _change("remove", schedule_id, database_url, False)
