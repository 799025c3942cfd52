"""What the API and the dashboard share: input validation, the job and asset documents,
lookups that 404, job creation, and the dashboard's state."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, current_app, request, url_for
from pydantic import BaseModel, ValidationError

from scraper.assets import AssetRecord, get_asset
from scraper.errors import JobNotFound
from scraper.jobs import JobRecord, NewJob
from scraper.metrics.cache import TTLCache
from scraper.models import JobStatus
from scraper.web.auth import current_account, owner_filter
from scraper.web.context import current_runtime, runtime_of
from scraper.web.errors import ApiError
from scraper.web.schemas import MAX_ROW_ID, SearchRequest, describe_errors
from scraper.web.status import SchemaStatus, schema_cache, system_status

M = TypeVar("M", bound=BaseModel)
SCHEMA_CACHE_KEY = "scraper_schema_cache"

FALLBACK_WARNING = (
    "the database refused this job; it is held in the fallback store and runs once it is "
    "reconciled into the database (run `ops doctor`)"
)


# -- input -------------------------------------------------------------------------------------


def validate(model: type[M], data: Any, strict: bool) -> M:
    """Validate with the app's limits; ApiError(400) names every bad field."""
    context = {"max_content_limit": current_runtime().settings.max_content_limit}
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
    return data


def asset_json(record: AssetRecord) -> dict[str, Any]:
    data = record.to_json()
    data["file_url"] = url_for("api.asset_file", asset_id=record.id)
    return data


def find_job(job_id: str) -> JobRecord:
    """The job if the signed-in user may see it; 404 otherwise (absent and others' alike)."""
    try:
        return current_runtime().jobs.get(job_id, owner_filter())
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job with id {job_id!r}") from None


def find_asset(asset_id: int) -> AssetRecord:
    """The asset if the signed-in user may see it; 404 otherwise (ids past any row's too)."""
    if not 1 <= asset_id <= MAX_ROW_ID:  # a database would refuse to compare it: not a 5xx
        raise ApiError(404, "not_found", f"no asset with id {asset_id}")
    asset = get_asset(current_runtime().Session, asset_id, owner_filter())
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
    return current_runtime().jobs.create(spec, user_id=current_account().id)


# -- the dashboard's state (also rendered server-side by the dashboard page) -------------------


def active_jobs(owner: int | None) -> tuple[list[JobRecord], int]:
    """Running then pending jobs (fallback ones included: they are waiting, not lost)."""
    service = current_runtime().jobs
    running = service.list(JobStatus.RUNNING, None, owner, 50, 0)
    pending = service.list(JobStatus.PENDING, None, owner, 50, 0)
    return running.jobs + pending.jobs, running.total + pending.total


def cached_schema() -> TTLCache[SchemaStatus]:
    cache: TTLCache[SchemaStatus] = current_app.extensions[SCHEMA_CACHE_KEY]
    return cache


def dashboard_state() -> dict[str, Any]:
    """The dashboard's data (`DashboardOut` in the OpenAPI document), for the signed-in user."""
    owner = owner_filter()
    active, active_total = active_jobs(owner)
    recent = current_runtime().jobs.list(None, None, owner, 10, 0)
    status = system_status(current_runtime(), cached_schema())
    return {
        "active": [job_json(j) for j in active],
        "active_total": active_total,
        "recent": [job_json(j) for j in recent.jobs],
        "recent_total": recent.total,
        "fallback_jobs": status.fallback_jobs,
        "schema": vars(status.schema),
        "banner": status.banner,
        "health": [vars(h) for h in status.health],
    }


def init_app(app: Flask) -> None:
    """Build the app's schema-check cache (reflection is too slow for every poll)."""
    ttl = float(app.config.get("SCHEMA_CHECK_SECONDS", 10.0))
    app.extensions[SCHEMA_CACHE_KEY] = schema_cache(runtime_of(app), ttl)
