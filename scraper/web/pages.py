"""The jobs list (search, filters, sort, per-row and bulk retry / cancel) and the workers page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from scraper.errors import JobNotFound, JobStateError
from scraper.jobs import SORTS, JobFilter
from scraper.models import JobStatus
from scraper.sources import source_names
from scraper.web.auth import current_account, owner_filter
from scraper.web.bounds import page_number, storable_instant
from scraper.web.context import current_runtime
from scraper.web.insight import workers_state
from scraper.web.views import job_json, unavailable_if_unread

bp = Blueprint("pages", __name__)
PER_PAGE = 25
BULK_LIMIT = 500
FILTER_KEYS = ("q", "status", "source", "since", "until", "sort")


class BadFilter(ValueError):
    """A filter value the list cannot apply; the page says which and why."""


def _date(name: str) -> datetime | None:
    raw = request.values.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{name}: {raw!r} is not a date (use YYYY-MM-DD)") from None
    return storable_instant(value)


def _choice(name: str, allowed: list[str] | tuple[str, ...], default: str | None) -> str | None:
    raw = request.values.get(name, "").strip() or default
    if raw is not None and raw not in allowed:
        raise BadFilter(f"Unknown {name} {raw!r}; choose one of: {', '.join(allowed)}.")
    return raw


def filter_from_request() -> JobFilter:
    """The list's filter from the query string (or a bulk form); BadFilter names a bad value."""
    statuses = [s.value for s in JobStatus]
    return JobFilter(
        status=_choice("status", statuses, None),
        user_id=owner_filter(),
        q=request.values.get("q", "").strip() or None,
        source=_choice("source", source_names(), None),
        since=_date("since"),
        until=_date("until"),
        sort=_choice("sort", SORTS, "-created_at") or "-created_at",
    )


def _page_number() -> int:
    return page_number(request.args.get("page"), PER_PAGE)


def _filters_echo() -> dict[str, str]:
    return {k: request.values.get(k, "") for k in FILTER_KEYS}


@bp.get("/jobs")
@login_required
def jobs() -> ResponseReturnValue:
    """Every job the user may see, searchable, filterable and sortable, with bulk actions."""
    page, echo = _page_number(), _filters_echo()
    context: dict[str, Any] = dict(
        filters=echo, statuses=[s.value for s in JobStatus], sources=source_names(),
        sorts=SORTS, page=page, pages=1, jobs=[], total=0, problem=None,
    )  # fmt: skip
    try:
        where = filter_from_request()
    except BadFilter as exc:
        return render_template("jobs.html", **context | {"problem": str(exc)}), 400
    listing = current_runtime().jobs.search(where, None, PER_PAGE, (page - 1) * PER_PAGE)
    unavailable_if_unread(listing)
    pages = max(1, -(-listing.total // PER_PAGE))
    problem = None
    if page > pages:
        problem = f"Page {page} is past the last page ({pages}); {listing.total} job(s) match."
    context |= dict(
        jobs=[job_json(j) for j in listing.jobs], total=listing.total, pages=pages,
        problem=problem, missing=listing.missing_columns, query=urlencode(
            {k: v for k, v in echo.items() if v}),
    )  # fmt: skip
    return render_template("jobs.html", **context), 404 if problem else 200


@bp.post("/jobs/bulk")
@login_required
def bulk() -> ResponseReturnValue:
    """Retry or cancel the ticked jobs, or every job the filter matches (up to 500)."""
    action = request.form.get("action", "")
    back = url_for("pages.jobs") + "?" + urlencode({k: v for k, v in _filters_echo().items() if v})
    if action not in ("retry", "cancel"):
        flash("Choose retry or cancel.", "error")
        return redirect(back)
    ids = request.form.getlist("job_ids")
    if request.form.get("scope") == "filtered":
        try:
            where = filter_from_request()
        except BadFilter as exc:
            flash(str(exc), "error")
            return redirect(back)
        listing = current_runtime().jobs.search(where, None, BULK_LIMIT, 0)
        unavailable_if_unread(listing)
        ids = [j.id for j in listing.jobs]
    done, refused = _apply(action, ids)
    flash(f"{action.capitalize()}: {done} job(s) done, {len(refused)} refused.", "info")
    for line in refused[:5]:
        flash(line, "error")
    return redirect(back)


def _apply(action: str, ids: list[str]) -> tuple[int, list[str]]:
    service, owner, done, refused = current_runtime().jobs, owner_filter(), 0, []
    for job_id in dict.fromkeys(ids):
        try:
            service.get(job_id, owner)
            service.retry(job_id) if action == "retry" else service.cancel(job_id)
            done += 1
        except (JobNotFound, JobStateError) as exc:
            refused.append(f"{job_id}: {exc}")
    return done, refused


@bp.get("/workers")
@login_required
def workers() -> ResponseReturnValue:
    """Each worker, its host and pid, busy / idle / stale, the jobs in hand (admins only)."""
    if not current_account().is_admin:
        return render_template("error.html", status=403, title="Forbidden",
                               message="Only an admin may see the workers."), 403  # fmt: skip
    return render_template("workers.html", workers=workers_state()["workers"])


def init_app(app: Flask) -> None:
    """Register the jobs list and the workers page."""
    app.register_blueprint(bp)
