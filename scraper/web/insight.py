"""Operators' API: workers (admin only) and activity stats."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue

from healthchecks.workers import fresh_within
from scraper.jobs.stats import compute_stats
from scraper.jobs.workers import WorkerView, worker_views
from scraper.web.auth import current_account, owner_filter
from scraper.web.context import current_runtime as runtime
from scraper.web.errors import ApiError
from scraper.web.operation import documented
from scraper.web.schemas import StatsOut, StatsQuery, WorkerList

bp = Blueprint("insight", __name__, url_prefix="/api")


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
@documented(response=WorkerList, errors=(403,))
def workers() -> ResponseReturnValue:
    """Each worker: host, pid, busy / idle / stale, the jobs in hand, the last heartbeat."""
    require_admin()
    return workers_state()


@bp.get("/stats")
@documented(query=StatsQuery, response=StatsOut, errors=(400,), expensive=True)
def stats(query: StatsQuery) -> ResponseReturnValue:
    """Jobs created / completed / failed, files and bytes per bucket; per-source totals."""
    found = compute_stats(runtime().Session, query.window, owner_filter())
    body = {
        "window": found.window,
        "bucket_seconds": found.bucket_seconds,
        "buckets": [vars(b) | {"start": b.start.isoformat()} for b in found.buckets],
        "sources": {name: vars(s) for name, s in found.sources.items()},
    }
    return StatsOut.model_validate(body).model_dump()


def init_app(app: Flask) -> None:
    """Register the operators' API."""
    app.register_blueprint(bp)
