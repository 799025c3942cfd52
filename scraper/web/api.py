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

from scraper.errors import JobStateError
from scraper.jobs import JobRecord
from scraper.jobs.reads.assets import list_assets
from scraper.jobs.shape import JobOut
from scraper.jobs.tally import active_count, status_counts
from scraper.sources import source_class, source_descriptions
from scraper.web.auth import owner_filter
from scraper.web.common import (
    asset_cursor,
    asset_json,
    create_job,
    dashboard_state,
    find_asset,
    find_job,
    job_cursor,
    job_json,
    unavailable_if_unread,
)
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.files import send_stored
from scraper.web.operation import documented
from scraper.web.schemas import (
    AssetList,
    AssetListQuery,
    AssetOut,
    BulkItem,
    BulkRequest,
    BulkResult,
    DashboardOut,
    JobCounts,
    JobList,
    JobListQuery,
    SearchCreated,
    SearchRequest,
    SourceList,
    SourceOut,
    Unavailable,
)

bp = Blueprint("api", __name__, url_prefix="/api")
BINARY = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
FILE_RESPONSES = {
    200: {"description": "The file.", "content": BINARY},
    206: {"description": "The requested byte range of the file.", "content": BINARY},
    304: {"description": "Not modified since the validators the client sent."},
}


# -- endpoints ---------------------------------------------------------------------------------


@bp.post("/comprehensive-search")
@documented(body=SearchRequest, response=SearchCreated, status=201, errors=(400, 413))
def comprehensive_search(body: SearchRequest) -> ResponseReturnValue:
    """Create a search job."""
    job = create_job(body)
    created = SearchCreated(
        job_id=job.id,
        status=job.status,
        storage=job.storage,
        warning=job.warning,
        refusal=job.refusal,
    )
    return created.model_dump(exclude_none=True), 201


@bp.get("/job-progress/<job_id>")
@documented(response=JobOut, errors=(404,))
def job_progress(job_id: str) -> ResponseReturnValue:
    """One job's progress and state."""
    return job_json(find_job(job_id))


@bp.get("/jobs/<job_id>")
@documented(response=JobOut, errors=(404,))
def job_detail(job_id: str) -> ResponseReturnValue:
    """One job (the same document as job-progress)."""
    return job_json(find_job(job_id))


@bp.get("/jobs")
@documented(
    query=JobListQuery,
    response=JobList,
    errors=(400,),
    responses={503: Unavailable},
    expensive=True,
)
def jobs(query: JobListQuery) -> ResponseReturnValue:
    """A page of jobs from both stores, fallback jobs first, then by `sort`."""
    where = query.where(owner_filter())
    after = job_cursor(query.cursor, query.sort)
    page = current_runtime().jobs.search(where, query.storage, query.limit, query.offset, after)
    unavailable_if_unread(page)
    body: dict[str, Any] = {"jobs": [job_json(j) for j in page.jobs], "total": page.total}
    body |= {"next_cursor": page.next_cursor, "total_is_estimate": page.total_is_estimate}
    if page.missing_columns:
        body["missing_columns"] = page.missing_columns
    return body


@bp.get("/job-counts")
@documented(response=JobCounts)
def job_counts() -> ResponseReturnValue:
    """How many jobs are in each state (what the jobs page's tabs show while it is open)."""
    counts = status_counts(current_runtime().Session, owner_filter())
    return JobCounts(counts=counts, active=active_count(counts)).model_dump()


@bp.post("/jobs/<job_id>/cancel")
@documented(response=JobOut, errors=(400, 404, 409), expensive=True)
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a pending or running job; 409 if it already finished."""
    return _transition(job_id, current_runtime().jobs.cancel)


@bp.post("/jobs/<job_id>/retry")
@documented(response=JobOut, errors=(400, 404, 409), expensive=True)
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
@documented(body=BulkRequest, response=BulkResult, errors=(400, 413), expensive=True)
def bulk(body: BulkRequest) -> ResponseReturnValue:
    """Retry or cancel many jobs; each under the same rules as the single-job endpoints."""
    service = current_runtime().jobs
    change = service.retry if body.action == "retry" else service.cancel
    results = [_bulk_one(job_id, change) for job_id in dict.fromkeys(body.job_ids)]
    return BulkResult(results=results).model_dump(exclude_none=True)


def _bulk_one(job_id: str, change: Callable[[str], JobRecord]) -> BulkItem:
    try:
        status = _transition(job_id, change)["status"]
        return BulkItem(job_id=job_id, ok=True, status=status)
    except ApiError as exc:
        return BulkItem(job_id=job_id, ok=False, error=f"{exc.code}: {exc.message}")


@bp.get("/assets")
@documented(query=AssetListQuery, response=AssetList, errors=(400, 404), expensive=True)
def assets(query: AssetListQuery) -> ResponseReturnValue:
    """A page of assets, newest first; `job_id` must be a job the user may see."""
    if query.job_id is not None:
        find_job(query.job_id)
    after = asset_cursor(query.cursor)
    session = current_runtime().Session
    page = list_assets(session, query.job_id, owner_filter(), query.limit, query.offset, after)
    body: dict[str, Any] = {"assets": [asset_json(a) for a in page.assets], "total": page.total}
    return body | {"next_cursor": page.next_cursor, "total_is_estimate": page.estimated}


@bp.get("/assets/<int:asset_id>")
@documented(response=AssetOut, errors=(404,))
def asset_detail(asset_id: int) -> ResponseReturnValue:
    """One asset's record."""
    return asset_json(find_asset(asset_id))


@bp.get("/assets/<int:asset_id>/file")
@documented(errors=(404, 416), responses=FILE_RESPONSES)
def asset_file(asset_id: int) -> ResponseReturnValue:
    """The stored file, wherever it is stored: images inline, anything else as a download."""
    asset = find_asset(asset_id)
    return send_stored(current_runtime().files, asset, bool(request.args.get("download")))


@bp.get("/sources")
@documented(response=SourceList)
def sources() -> ResponseReturnValue:
    """The registered sources a search may name."""
    found = [
        SourceOut(name=n, description=d, safe_search=source_class(n).safe_search_filter)
        for n, d in source_descriptions().items()
    ]
    return SourceList(sources=found).model_dump()


@bp.get("/dashboard")
@documented(response=DashboardOut, expensive=True)
def dashboard() -> ResponseReturnValue:
    """What the dashboard polls: active jobs, recent jobs, banner and health panel."""
    return dashboard_state()


def init_app(app: Flask) -> None:
    """Register the API blueprint."""
    app.register_blueprint(bp)
