"""The JSON API: pydantic models validate every input; errors are `{"error", "message"}`.

Every endpoint but the OpenAPI document needs a signed-in user (session or bearer token);
`auth._guard` answers 401 before a view runs. A user sees only their own jobs and assets
(others' are 404); an admin sees all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, request, send_file
from flask.typing import ResponseReturnValue

from scraper.assets import list_assets
from scraper.errors import JobStateError
from scraper.jobs import JobRecord
from scraper.sources import source_class, source_descriptions
from scraper.storage import PathEscape, safe_filename
from scraper.web.auth import owner_filter
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.openapi import build_document
from scraper.web.schemas import AssetListQuery, JobListQuery, SearchCreated, SearchRequest
from scraper.web.views import (
    asset_json,
    create_job,
    dashboard_state,
    find_asset,
    find_job,
    job_json,
    json_body,
    query_args,
    validate,
)

bp = Blueprint("api", __name__, url_prefix="/api")

# Shown inline; anything else (SVG, PDF, ...) is a download so it cannot run in our origin.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


# -- endpoints ---------------------------------------------------------------------------------


@bp.post("/comprehensive-search")
def comprehensive_search() -> ResponseReturnValue:
    """Validate a search and create its job."""
    search = validate(SearchRequest, json_body(), strict=True)
    job = create_job(search)
    created = SearchCreated(
        job_id=job.id,
        status=job.status,
        storage=job.storage,
        warning=job.warning,
        refusal=job.refusal,
    )
    return created.model_dump(exclude_none=True), 201


@bp.get("/job-progress/<job_id>")
def job_progress(job_id: str) -> ResponseReturnValue:
    """One job's progress and state."""
    return job_json(find_job(job_id))


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str) -> ResponseReturnValue:
    """One job (the same document as job-progress)."""
    return job_json(find_job(job_id))


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    """A page of jobs from both stores, fallback jobs first, then newest first."""
    q = query_args(JobListQuery)
    status = q.status.value if q.status is not None else None
    page = current_runtime().jobs.list(status, q.storage, owner_filter(), q.limit, q.offset)
    body: dict[str, Any] = {"jobs": [job_json(j) for j in page.jobs], "total": page.total}
    if page.database_error:
        body["database_error"] = page.database_error
    return body


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a pending or running job; 409 if it already finished."""
    return _transition(job_id, current_runtime().jobs.cancel)


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> ResponseReturnValue:
    """Queue a failed or cancelled job again; 409 if it cannot be retried."""
    return _transition(job_id, current_runtime().jobs.retry)


def _transition(job_id: str, change: Callable[[str], JobRecord]) -> ResponseReturnValue:
    """Apply a state change to a job the user may see; 409 if the job cannot make it."""
    find_job(job_id)
    try:
        return job_json(change(job_id))
    except JobStateError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


@bp.get("/assets")
def assets() -> ResponseReturnValue:
    """A page of assets, newest first; `job_id` must be a job the user may see."""
    q = query_args(AssetListQuery)
    if q.job_id is not None:
        find_job(q.job_id)
    session = current_runtime().Session
    rows, total = list_assets(session, q.job_id, owner_filter(), q.limit, q.offset)
    return {"assets": [asset_json(a) for a in rows], "total": total}


@bp.get("/assets/<int:asset_id>")
def asset_detail(asset_id: int) -> ResponseReturnValue:
    """One asset's record."""
    return asset_json(find_asset(asset_id))


@bp.get("/assets/<int:asset_id>/file")
def asset_file(asset_id: int) -> ResponseReturnValue:
    """The stored file: images inline, anything else as a download; never sniffed."""
    asset = find_asset(asset_id)
    try:
        path = current_runtime().files.resolve(asset.path)
    except PathEscape:
        raise ApiError(404, "file_missing", f"asset {asset_id} has no file") from None
    if not path.is_file():
        raise ApiError(404, "file_missing", f"the file of asset {asset_id} is missing")
    inline = asset.content_type in INLINE_TYPES and not request.args.get("download")
    response = send_file(
        path,
        mimetype=asset.content_type,
        as_attachment=not inline,
        download_name=safe_filename(asset.filename, asset.content_type, f"asset-{asset_id}"),
        conditional=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    return response


@bp.get("/sources")
def sources() -> ResponseReturnValue:
    """The registered sources a search may name."""
    found = [
        {"name": n, "description": d, "safe_search": source_class(n).safe_search_filter}
        for n, d in source_descriptions().items()
    ]
    return {"sources": found}


@bp.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    """What the dashboard polls: active jobs, recent jobs, banner and health panel."""
    return dashboard_state()


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI 3 document, generated from the same models that validate requests."""
    return build_document(current_runtime().settings.max_content_limit)


def init_app(app: Flask) -> None:
    """Register the API blueprint."""
    app.register_blueprint(bp)
