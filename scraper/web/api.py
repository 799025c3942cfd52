"""The JSON API (minimal core; the web issue completes validation, auth and paging)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from scraper.errors import JobNotFound, JobStateError, UnknownSource
from scraper.jobs import NewJob
from scraper.sources import validate_sources

bp = Blueprint("api", __name__, url_prefix="/api")


def _error(code: str, message: str, status: int) -> ResponseReturnValue:
    return jsonify({"error": code, "message": message}), status


def _runtime() -> Any:
    return current_app.extensions["scraper"]


@bp.post("/comprehensive-search")
def comprehensive_search() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error("invalid_request", "body must be JSON with a string 'query'", 400)
    sources = tuple(body.get("enabled_sources") or ("selftest",))
    try:
        validate_sources(sources)
    except UnknownSource as exc:
        return _error("invalid_enabled_sources", str(exc), 400)
    spec = NewJob(
        query=body["query"],
        max_content=int(body.get("max_content", 10)),
        safe_search=bool(body.get("safe_search", True)),
        enabled_sources=sources,
    )
    job = _runtime().jobs.create(spec)
    payload = {"success": True, "job_id": job.id, "status": job.status, "storage": job.storage}
    if job.warning:
        payload["warning"] = job.warning
    return jsonify(payload), 201


@bp.get("/job-progress/<job_id>")
def job_progress(job_id: str) -> ResponseReturnValue:
    try:
        job = _runtime().jobs.get(job_id)
    except JobNotFound as exc:
        return _error("not_found", str(exc), 404)
    return jsonify(job.to_json())


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    page = _runtime().jobs.list(status=request.args.get("status"))
    return jsonify({"jobs": [j.to_json() for j in page.jobs], "total": page.total})


@bp.post("/jobs/<job_id>/<action>")
def job_action(job_id: str, action: str) -> ResponseReturnValue:
    service = _runtime().jobs
    if action not in ("cancel", "retry"):
        return _error("not_found", f"no action {action!r}", 404)
    try:
        job = service.cancel(job_id) if action == "cancel" else service.retry(job_id)
    except JobNotFound as exc:
        return _error("not_found", str(exc), 404)
    except JobStateError as exc:
        return _error("conflict", str(exc), 409)
    return jsonify(job.to_json())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
