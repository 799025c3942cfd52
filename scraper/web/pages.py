"""The jobs list (search, filters, sort, per-row and bulk retry / cancel) and the workers page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from scraper.errors import JobNotFound, JobStateError
from scraper.jobs import JobSort
from scraper.jobs.housekeeping import delete_job
from scraper.jobs.reads.keyset import InvalidCursor, Position
from scraper.jobs.reads.keyset import decode as decode_cursor
from scraper.jobs.tally import active_count, status_counts
from scraper.models import JobStatus
from scraper.sources import source_names
from scraper.web.auth import current_account, owner_filter
from scraper.web.common import (
    FILTER_NAMES,
    job_json,
    page_filters,
    page_number,
    unavailable_if_unread,
)
from scraper.web.context import current_runtime
from scraper.web.insight import workers_state
from scraper.web.operation import PAGE_NUMBER, POSTED, documented

bp = Blueprint("pages", __name__)
PER_PAGE = 25
BULK_LIMIT = 500


def _cursor(sort: str) -> Position | None:
    """The keyset position of the Next link's `cursor`; InvalidCursor if we did not make it."""
    raw = request.args.get("cursor", "").strip()
    return decode_cursor(raw, sort) if raw else None


def _filters_echo() -> dict[str, str]:
    return {k: request.values.get(k, "") for k in FILTER_NAMES}


@bp.get("/jobs")
@login_required
@documented(
    summary="Jobs: search, filters, sort, bulk actions",
    page=True,
    errors=(302, 400, 404, 429, 503),
    params={"page": PAGE_NUMBER} | {name: {"type": "string"} for name in FILTER_NAMES},
    expensive=True,
)
def jobs() -> ResponseReturnValue:
    """Every job the user may see, searchable, filterable and sortable, with bulk actions."""
    page, echo = page_number(PER_PAGE), _filters_echo()
    context: dict[str, Any] = dict(
        filters=echo, statuses=[s.value for s in JobStatus], sources=source_names(),
        sorts=[s.value for s in JobSort], page=page, pages=1, jobs=[], total=0, problem=None,
        tabs=[], active=None, live_url=None,
    )  # fmt: skip
    filters, bad = page_filters()
    after = None
    if bad is None:
        try:
            after = _cursor(filters.sort)
        except InvalidCursor as exc:
            bad = f"cursor: {exc}"
    if bad is not None:
        return render_template("jobs.html", **context | {"problem": bad}), 400
    where = filters.where(owner_filter())
    offset = 0 if after is not None else (page - 1) * PER_PAGE
    listing = current_runtime().jobs.search(where, None, PER_PAGE, offset, after)
    unavailable_if_unread(listing)
    pages = max(1, -(-listing.total // PER_PAGE))
    problem = None
    if page > pages:
        problem = f"Page {page} is past the last page ({pages}); {listing.total} job(s) match."
    counts = status_counts(current_runtime().Session, owner_filter())
    context |= dict(
        jobs=[job_json(j) for j in listing.jobs], total=listing.total, pages=pages,
        problem=problem, missing=listing.missing_columns, query=urlencode(
            {k: v for k, v in echo.items() if v}), next_cursor=listing.next_cursor,
        tabs=_tabs(echo, counts), active=active_count(counts),
        live_url=None if problem else _live_url(echo, offset, request.args.get("cursor", "")),
    )  # fmt: skip
    return render_template("jobs.html", **context), 404 if problem else 200


def _tabs(echo: dict[str, str], counts: dict[str, int]) -> list[dict[str, Any]]:
    """One tab per state (and All), each keeping the other filters; `current` is the shown one."""
    kept: dict[str, Any] = {k: v for k, v in echo.items() if v and k != "status"}
    tabs: list[dict[str, Any]] = [{"status": "", "label": "All", "count": sum(counts.values())}]
    tabs += [{"status": s, "label": s.capitalize(), "count": n} for s, n in counts.items()]
    for tab in tabs:
        status = {"status": tab["status"]} if tab["status"] else {}
        tab["href"] = url_for("pages.jobs", **kept | status)
        tab["current"] = tab["status"] == echo["status"]
    return tabs


def _live_url(echo: dict[str, str], offset: int, cursor: str) -> str:
    """The API request that answers this very page now (`dashboard.js` polls it)."""
    args: dict[str, Any] = {k: v.strip() for k, v in echo.items() if v.strip()}
    args |= {"cursor": cursor.strip()} if cursor.strip() else {"offset": offset}
    return url_for("api.jobs", limit=PER_PAGE, **args)


@bp.post("/jobs/bulk")
@login_required
@documented(
    summary="Retry or cancel the ticked or all matching jobs",
    page=True,
    expensive=True,
    status=302,
    errors=POSTED,
    form={
        "action": {"enum": ["retry", "cancel"]},
        "scope": {"enum": ["selected", "filtered"]},
        "job_ids": {"type": "array", "items": {"type": "string"}},
    },
)
def bulk() -> ResponseReturnValue:
    """Retry, cancel or delete the ticked jobs, or every job the filter matches (up to 500)."""
    action = request.form.get("action", "")
    back = url_for("pages.jobs") + "?" + urlencode({k: v for k, v in _filters_echo().items() if v})
    if action not in ("retry", "cancel", "delete"):
        flash("Choose retry, cancel or delete.", "error")
        return redirect(back)
    ids = request.form.getlist("job_ids")
    if not ids and request.form.get("scope") != "filtered":
        flash(f"No job is ticked: tick the jobs to {action}, or choose all matching.", "error")
        return redirect(back)
    if request.form.get("scope") == "filtered":
        filters, bad = page_filters()
        if bad is not None:
            flash(bad, "error")
            return redirect(back)
        listing = current_runtime().jobs.search(filters.where(owner_filter()), None, BULK_LIMIT, 0)
        unavailable_if_unread(listing)
        ids = [j.id for j in listing.jobs]
    done, refused = _apply(action, ids)
    past = {"retry": "queued again", "cancel": "cancelled", "delete": "deleted"}[action]
    flash(f"{done} job(s) {past}, {len(refused)} refused.", "info")
    for line in refused[:5]:
        flash(line, "error")
    return redirect(back)


def _apply(action: str, ids: list[str]) -> tuple[int, list[str]]:
    """Apply the action to each job; the refusals name the job by its query."""
    runtime, owner, done, refused = current_runtime(), owner_filter(), 0, []
    for job_id in dict.fromkeys(ids):
        name = job_id
        try:
            name = repr(runtime.jobs.get(job_id, owner).query)
            if action == "delete":
                delete_job(runtime.Session, runtime.files, job_id, owner)
            else:
                runtime.jobs.retry(job_id) if action == "retry" else runtime.jobs.cancel(job_id)
            done += 1
        except (JobNotFound, JobStateError) as exc:
            reason = str(exc).replace(f"job {job_id} ", "it ")
            refused.append(f"{name}: {reason}")
    return done, refused


@bp.get("/workers")
@login_required
@documented(summary="Workers (admin only)", page=True, errors=(302, 403, 503))
def workers() -> ResponseReturnValue:
    """Each worker, its host and pid, busy / idle / stale, the jobs in hand (admins only)."""
    if not current_account().is_admin:
        return render_template("error.html", status=403, title="Forbidden",
                               message="Only an admin may see the workers."), 403  # fmt: skip
    return render_template("workers.html", workers=workers_state()["workers"])


def init_app(app: Flask) -> None:
    """Register the jobs list and the workers page."""
    app.register_blueprint(bp)
