"""The JSON API: pydantic models validate every input; errors are `{"error", "message"}`.

Every endpoint but the OpenAPI document needs a signed-in user (session or bearer token);
`auth._guard` answers 401 before a view runs. A user sees only their own jobs and assets
(others' are 404); an admin sees all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, request, send_file, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from scraper.assets import AssetRecord, get_asset, list_assets
from scraper.errors import JobNotFound, JobStateError
from scraper.jobs import JobRecord, NewJob
from scraper.metrics.cache import TTLCache
from scraper.runtime import Runtime
from scraper.sources import source_class, source_descriptions
from scraper.storage import PathEscape, safe_filename
from scraper.web.auth import current_account, owner_filter
from scraper.web.errors import ApiError
from scraper.web.schemas import (
    MAX_ROW_ID,
    AssetListQuery,
    DashboardOut,
    JobListQuery,
    JobOut,
    SearchCreated,
    SearchRequest,
    describe_errors,
)
from scraper.web.status import SchemaStatus, schema_cache, system_status

bp = Blueprint("api", __name__, url_prefix="/api")
M = TypeVar("M", bound=BaseModel)

FALLBACK_WARNING = (
    "the database refused this job; it is held in the fallback store and runs once it is "
    "reconciled into the database (run `ops doctor`)"
)
# Shown inline; anything else (SVG, PDF, ...) is a download so it cannot run in our origin.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


def runtime() -> Runtime:
    """The app's runtime (engine, stores, job service)."""
    rt: Runtime = current_app.extensions["scraper"]
    return rt


# -- input -------------------------------------------------------------------------------------


def validate(model: type[M], data: Any, strict: bool) -> M:
    """Validate with the app's limits; ApiError(400) names every bad field."""
    context = {"max_content_limit": runtime().settings.max_content_limit}
    try:
        return model.model_validate(data, strict=strict, context=context)
    except ValidationError as exc:
        field, message = describe_errors(exc)
        raise ApiError(400, "invalid_request", message, field) from None


def json_body() -> Any:
    """The parsed JSON body; 400 for another content type or malformed JSON."""
    if not request.is_json:
        # 400, as the contract says of every invalid input (and a form post, which a
        # cross-site page can make, is never read as JSON).
        raise ApiError(
            400, "unsupported_content_type", "send the body as Content-Type: application/json"
        )
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def query_args(model: type[M]) -> M:
    """Validate the query string (strings converted to numbers, lax); `?status=` is no filter."""
    given = {k: v for k, v in request.args.items() if v != ""}
    return validate(model, given, strict=False)


# -- output ------------------------------------------------------------------------------------


def job_json(record: JobRecord) -> dict[str, Any]:
    """A job as the contract shows it; fallback jobs always carry a warning."""
    data = record.to_json()
    data["bytes"] = record.bytes_downloaded
    if record.storage == "fallback":
        data["warning"] = data.get("warning") or FALLBACK_WARNING
    out = JobOut.model_validate(data).model_dump(mode="json")
    if out["warning"] is None:
        out.pop("warning")
    return out


def asset_json(record: AssetRecord) -> dict[str, Any]:
    data = record.to_json()
    data["file_url"] = url_for("api.asset_file", asset_id=record.id)
    return data


def find_job(job_id: str) -> JobRecord:
    """The job if the signed-in user may see it; 404 otherwise (absent and others' alike)."""
    try:
        return runtime().jobs.get(job_id, owner_filter())
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job with id {job_id!r}") from None


def find_asset(asset_id: int) -> AssetRecord:
    """The asset if the signed-in user may see it; 404 otherwise (ids past any row's too)."""
    if not 1 <= asset_id <= MAX_ROW_ID:  # a database would refuse to compare it: not a 5xx
        raise ApiError(404, "not_found", f"no asset with id {asset_id}")
    asset = get_asset(runtime().Session, asset_id, owner_filter())
    if asset is None:
        raise ApiError(404, "not_found", f"no asset with id {asset_id}")
    return asset


def create_job(search: SearchRequest) -> JobRecord:
    """Create the job for the signed-in user (the database, or the fallback if it refuses)."""
    spec = NewJob(
        query=search.query,
        max_content=search.max_content,
        safe_search=search.safe_search,
        enabled_sources=tuple(search.enabled_sources),
    )
    return runtime().jobs.create(spec, user_id=current_account().id)


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
    page = runtime().jobs.list(status, q.storage, owner_filter(), q.limit, q.offset)
    body: dict[str, Any] = {"jobs": [job_json(j) for j in page.jobs], "total": page.total}
    if page.database_error:
        body["database_error"] = page.database_error
    return body


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a pending or running job; 409 if it already finished."""
    return _transition(job_id, runtime().jobs.cancel)


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> ResponseReturnValue:
    """Queue a failed or cancelled job again; 409 if it cannot be retried."""
    return _transition(job_id, runtime().jobs.retry)


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
    rows, total = list_assets(runtime().Session, q.job_id, owner_filter(), q.limit, q.offset)
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
        path = runtime().files.resolve(asset.path)
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
    from scraper.web.openapi import build_document

    return build_document(runtime().settings.max_content_limit)


# -- the dashboard's state (also rendered server-side by the dashboard page) -------------------


def active_jobs(owner: int | None) -> tuple[list[JobRecord], int]:
    """Running then pending jobs (fallback ones included: they are waiting, not lost)."""
    service = runtime().jobs
    running = service.list("running", None, owner, 50, 0)
    pending = service.list("pending", None, owner, 50, 0)
    return running.jobs + pending.jobs, running.total + pending.total


def cached_schema() -> TTLCache[SchemaStatus]:
    cache: TTLCache[SchemaStatus] = current_app.extensions["scraper_schema_cache"]
    return cache


def dashboard_state() -> dict[str, Any]:
    """The dashboard's data as JSON-ready dicts, for the signed-in user."""
    owner = owner_filter()
    active, active_total = active_jobs(owner)
    recent = runtime().jobs.list(None, None, owner, 10, 0)
    status = system_status(runtime(), cached_schema())
    state = DashboardOut.model_validate(
        {
            "active": [job_json(j) for j in active],
            "active_total": active_total,
            "recent": [job_json(j) for j in recent.jobs],
            "recent_total": recent.total,
            "fallback_jobs": status.fallback_jobs,
            "schema": vars(status.schema),
            "banner": status.banner,
            "health": [vars(h) for h in status.health],
        }
    )
    return state.model_dump(mode="json", by_alias=True)


def init_app(app: Flask) -> None:
    """Register the API blueprint and its schema-check cache."""
    ttl = float(app.config.get("SCHEMA_CHECK_SECONDS", 10.0))
    app.extensions["scraper_schema_cache"] = schema_cache(app.extensions["scraper"], ttl)
    app.register_blueprint(bp)
