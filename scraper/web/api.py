"""The JSON API: pydantic models validate every input; errors are `{"error", "message"}`.

Every endpoint but the OpenAPI document needs a signed-in user (session or bearer token);
`auth._guard` answers 401 before a view runs. A user sees only their own jobs and assets
(others' are 404); an admin sees all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, request
from flask.typing import ResponseReturnValue

from scraper.assets import list_assets
from scraper.errors import JobStateError
from scraper.jobs import JobFilter, JobRecord
from scraper.sources import source_class, source_descriptions
from scraper.web.auth import owner_filter
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.files import send_stored
from scraper.web.openapi import build_document
from scraper.web.schemas import (
    AssetListQuery,
    BulkItem,
    BulkRequest,
    BulkResult,
    JobListQuery,
    SearchCreated,
    SearchRequest,
)
from scraper.web.views import (
    asset_json,
    create_job,
    dashboard_state,
    find_asset,
    find_job,
    job_cursor,
    job_json,
    json_body,
    query_args,
    unavailable_if_unread,
    validate,
)

bp = Blueprint("api", __name__, url_prefix="/api")


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
    """A page of jobs from both stores, fallback jobs first, then by `sort`."""
    q = query_args(JobListQuery)
    where = JobFilter(
        status=q.status.value if q.status is not None else None,
        user_id=owner_filter(),
        q=q.q,
        source=q.source,
        since=q.since,
        until=q.until,
        sort=q.sort,
    )
    after = job_cursor(q.cursor, q.sort)
    page = current_runtime().jobs.search(where, q.storage, q.limit, q.offset, after)
    unavailable_if_unread(page)
    body: dict[str, Any] = {"jobs": [job_json(j) for j in page.jobs], "total": page.total}
    body |= {"next_cursor": page.next_cursor, "total_is_estimate": page.total_is_estimate}
    if page.missing_columns:
        body["missing_columns"] = page.missing_columns
    return body


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a pending or running job; 409 if it already finished."""
    return _transition(job_id, current_runtime().jobs.cancel)


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> ResponseReturnValue:
    """Queue a failed or cancelled job again; 409 if it cannot be retried."""
    return _transition(job_id, current_runtime().jobs.retry)


def _transition(job_id: str, change: Callable[[str], JobRecord]) -> dict[str, Any]:
    """Apply a state change to a job the user may see; 409 if the job cannot make it."""
    find_job(job_id)
    try:
        return job_json(change(job_id))
    except JobStateError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


@bp.post("/jobs/bulk")
def bulk() -> ResponseReturnValue:
    """Retry or cancel many jobs; each under the same rules as the single-job endpoints."""
    asked = validate(BulkRequest, json_body(), strict=True)
    service = current_runtime().jobs
    change = service.retry if asked.action == "retry" else service.cancel
    results = [_bulk_one(job_id, change) for job_id in dict.fromkeys(asked.job_ids)]
    return BulkResult(results=results).model_dump(exclude_none=True)


def _bulk_one(job_id: str, change: Callable[[str], JobRecord]) -> BulkItem:
    try:
        status = _transition(job_id, change)["status"]
        return BulkItem(job_id=job_id, ok=True, status=status)
    except ApiError as exc:
        return BulkItem(job_id=job_id, ok=False, error=f"{exc.code}: {exc.message}")


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
    """The stored file, wherever it is stored: images inline, anything else as a download."""
    asset = find_asset(asset_id)
    return send_stored(current_runtime().files, asset, bool(request.args.get("download")))


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
