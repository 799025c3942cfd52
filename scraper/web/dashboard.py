"""The dashboard: server-rendered pages; `static/dashboard.js` keeps them live by polling."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_required

from scraper.errors import JobNotFound, JobStateError
from scraper.jobs.explain import summarize_error
from scraper.jobs.history import attempts_of
from scraper.jobs.reads.assets import list_assets
from scraper.models import FINAL_STATUSES, JobStatus, utcnow
from scraper.sources import source_descriptions
from scraper.web.auth import current_account, owner_filter
from scraper.web.common import (
    asset_json,
    create_job,
    dashboard_state,
    job_json,
    page_filters,
    page_number,
    unavailable_if_unread,
)
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.operation import PAGE_NUMBER, POSTED, documented, validate
from scraper.web.schemas import SearchRequest

bp = Blueprint("dashboard", __name__)
JOBS_PER_PAGE = 20
ASSETS_PER_PAGE = 60
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def default_form() -> dict[str, Any]:
    return {"query": "", "max_content": 10, "safe_search": True, "enabled_sources": ["selftest"]}


def render_index(
    form: dict[str, Any], code: int = 200, errors: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The dashboard page: banner, search form, health, active downloads, recent jobs."""
    (filters, problem), page = page_filters(("status",)), page_number(JOBS_PER_PAGE)
    status = filters.status.value if filters.status is not None else None
    offset = (page - 1) * JOBS_PER_PAGE
    listing = current_runtime().jobs.list(status, None, owner_filter(), JOBS_PER_PAGE, offset)
    unavailable_if_unread(listing)
    pages = max(1, -(-listing.total // JOBS_PER_PAGE))
    if problem is None and page > pages:
        problem = f"Page {page} is past the last page ({pages}); there are {listing.total} job(s)."
    page_html = render_template(
        "index.html",
        problem=problem,
        missing=listing.missing_columns,
        is_admin=current_account().is_admin,
        state=dashboard_state(),
        form=form,
        errors=errors or {},
        sources=source_descriptions(),
        limit=current_runtime().settings.max_content_limit,
        jobs=[job_json(j) for j in listing.jobs],
        total=listing.total,
        database_error=listing.database_error,
        status=status,
        statuses=[s.value for s in JobStatus],
        page=page,
        pages=pages,
        page_size=JOBS_PER_PAGE,
    )
    return page_html, code if problem is None else max(code, 400)


@bp.get("/")
@login_required
@documented(
    summary="The dashboard (400 for an unknown status or a page past the last)",
    page=True,
    errors=(302, 400, 503),
    params={"page": PAGE_NUMBER, "status": {"type": "string"}},
)
def index() -> ResponseReturnValue:
    """Show the dashboard."""
    return render_index(default_form())


@bp.post("/search")
@login_required
@documented(
    summary="Create a job from the search form",
    page=True,
    status=302,
    errors=POSTED,
    form={
        "query": {"type": "string"},
        "max_content": {"type": "string"},
        "safe_search": {"type": "string"},
        "enabled_sources": {"type": "array", "items": {"type": "string"}},
    },
)
def search() -> ResponseReturnValue:
    """Create a job from the search form (the same validation as the JSON API)."""
    form = {
        "query": request.form.get("query", ""),
        "max_content": request.form.get("max_content", ""),
        "safe_search": "safe_search" in request.form,
        "enabled_sources": request.form.getlist("enabled_sources"),
    }
    try:
        job = create_job(validate(SearchRequest, form, strict=False))
    except ApiError as exc:
        errors = exc.fields
        if not errors:
            flash(exc.message, "error")
        return render_index(form, 400, errors)
    flash(f"Job {job.id} created.", "info")
    if job.warning:
        flash(job.warning, "error")
    return redirect(url_for("dashboard.index"))


def no_such_job(job_id: str) -> str:
    """The 404 page's sentence for a job id the user cannot see."""
    return (
        f"There is no job {job_id[:64]!r} that you can see: it may have been deleted, "
        "or belong to another user."
    )


def _job_or_404(job_id: str) -> Any:
    try:
        return current_runtime().jobs.get(job_id, owner_filter())
    except JobNotFound:
        abort(404, description=no_such_job(job_id))


@bp.get("/jobs/<job_id>")
@login_required
@documented(summary="A job's page", page=True, errors=(302, 404, 503), params={"page": PAGE_NUMBER})
def job(job_id: str) -> ResponseReturnValue:
    """One job: its state, error, assets, and cancel / retry buttons."""
    record = _job_or_404(job_id)
    page = page_number(ASSETS_PER_PAGE)
    assets, total = [], 0
    if record.storage == "database":
        offset = (page - 1) * ASSETS_PER_PAGE
        found = list_assets(
            current_runtime().Session, job_id, owner_filter(), ASSETS_PER_PAGE, offset
        )
        assets, total = [asset_json(a) for a in found.assets], found.total
    history = attempts_of(current_runtime().Session, job_id) if record.storage == "database" else []
    return render_template(
        "job.html",
        history=history,
        job=job_json(record),
        final=record.status in FINAL_STATUSES,
        assets=assets,
        total=total,
        page=page,
        pages=max(1, -(-total // ASSETS_PER_PAGE)),
    )


@bp.post("/jobs/<job_id>/<action>")
@login_required
@documented(
    summary="Cancel or retry from the job page",
    page=True,
    status=302,
    errors=(*POSTED, 404),
    params={"action": {"enum": ["cancel", "retry"]}},
    form={},
    expensive=True,
)
def job_action(job_id: str, action: str) -> ResponseReturnValue:
    """Cancel or retry from the job page's buttons."""
    if action not in ("cancel", "retry"):
        abort(404)
    _job_or_404(job_id)
    service = current_runtime().jobs
    try:
        service.cancel(job_id) if action == "cancel" else service.retry(job_id)
    except JobStateError as exc:
        flash(str(exc), "error")
    else:
        flash("Job cancelled." if action == "cancel" else "Job queued again.", "info")
    return redirect(url_for("dashboard.job", job_id=job_id))


def filesize(value: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def when(value: str | datetime | None) -> str:
    """An ISO timestamp (or a datetime) as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if not value:
        return "—"
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: str | datetime | None, now: datetime | None = None) -> str:
    """How long ago, as a person says it: 'just now', '5 min ago', '3 h ago', '2 d ago'.

    `dashboard.js` says the same of the same instant (`ago` there), so a live list agrees.
    """
    if not value:
        return "—"
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    seconds = ((now or utcnow()) - at).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 90 * 60:
        return f"{max(1, _half_up(seconds / 60))} min ago"
    if seconds < 36 * 3600:
        return f"{_half_up(seconds / 3600)} h ago"
    return f"{_half_up(seconds / 86400)} d ago"


def _half_up(value: float) -> int:
    """Rounded as JavaScript's Math.round does (2.5 -> 3), not to even as Python's round."""
    return math.floor(value + 0.5)


def duration(seconds: float | None) -> str:
    """93 -> '1 min 33 s'."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def active_label(count: int) -> str:
    return f"{count} active download{'' if count == 1 else 's'}"


def _security_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "application/json":  # live state: never answered from a cache
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register the pages, their template helpers, and the security headers."""
    app.add_template_filter(filesize)
    app.add_template_filter(when)
    app.add_template_filter(ago)
    app.add_template_filter(duration)
    app.add_template_filter(summarize_error, "error_summary")
    app.add_template_global(active_label)
    app.after_request(_security_headers)
    app.register_blueprint(bp)
