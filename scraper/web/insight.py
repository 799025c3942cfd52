"""Operators' API: workers (admin only), activity stats, and the API docs for people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template
from flask.typing import ResponseReturnValue

from healthchecks.workers import fresh_within
from scraper.jobs.stats import compute_stats
from scraper.jobs.workers import WorkerView, worker_views
from scraper.web.auth import current_account, owner_filter
from scraper.web.common import query_args
from scraper.web.context import current_runtime as runtime
from scraper.web.errors import ApiError
from scraper.web.schemas import StatsOut, StatsQuery, WorkerList

bp = Blueprint("insight", __name__, url_prefix="/api")
# Redoc renders with inline styles and a blob: web worker; nothing leaves the origin.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def require_admin() -> None:
    """403 unless the signed-in account is an admin."""
    if not current_account().is_admin:
        raise ApiError(403, "forbidden", "only an admin may see this")


def worker_json(view: WorkerView) -> dict[str, Any]:
    data = vars(view) | {
        "started_at": view.started_at.isoformat(),
        "last_heartbeat_at": view.last_heartbeat_at.isoformat(),
    }
    return data


def workers_state() -> dict[str, Any]:
    """Every recent worker as the API and the workers page show it."""
    views = worker_views(runtime().Session, fresh_within(runtime()))
    return WorkerList.model_validate({"workers": [worker_json(v) for v in views]}).model_dump()


@bp.get("/workers")
def workers() -> ResponseReturnValue:
    """Each worker: host, pid, busy / idle / stale, the jobs in hand, the last heartbeat."""
    require_admin()
    return workers_state()


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Jobs created / completed / failed, files and bytes per bucket; per-source totals."""
    q = query_args(StatsQuery)
    found = compute_stats(runtime().Session, q.window, owner_filter())
    body = {
        "window": found.window,
        "bucket_seconds": found.bucket_seconds,
        "buckets": [vars(b) | {"start": b.start.isoformat()} for b in found.buckets],
        "sources": {name: vars(s) for name, s in found.sources.items()},
    }
    return StatsOut.model_validate(body).model_dump()


@bp.get("/docs")
def api_docs() -> ResponseReturnValue:
    """The OpenAPI document rendered for people (Redoc, served from the package)."""
    page = render_template("docs.html")
    return page, 200, {"Content-Security-Policy": DOCS_CSP}


def init_app(app: Flask) -> None:
    """Register the operators' API."""
    app.register_blueprint(bp)
