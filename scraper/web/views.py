"""What the API and the dashboard share: input validation, the job and asset documents,
lookups that 404, job creation, and the dashboard's state."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, current_app, request, url_for
from flask.json import dumps as json_dumps
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from scraper.assets import AssetRecord, get_asset
from scraper.errors import JobNotFound
from scraper.jobs import JobPage, JobRecord, NewJob
from scraper.jobs.explain import summarize_error
from scraper.metrics.cache import TTLCache
from scraper.models import JobStatus, utcnow
from scraper.web.auth import current_account, owner_filter
from scraper.web.bounds import check_json_depth, check_json_text
from scraper.web.context import current_runtime, runtime_of
from scraper.web.errors import ApiError, error_response, unavailable_page, wants_json
from scraper.web.schemas import MAX_ROW_ID, SearchRequest, describe_errors
from scraper.web.status import (
    HealthItem,
    SchemaStatus,
    health_cache,
    schema_cache,
    system_status,
)

M = TypeVar("M", bound=BaseModel)
SCHEMA_CACHE_KEY = "scraper_schema_cache"
HEALTH_CACHE_KEY = "scraper_health_cache"

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
    """The parsed JSON body; 400 for another content type, malformed JSON, a body nested
    deeper than any request needs, or text no database stores (`bounds`)."""
    if not request.is_json:
        # 400, as the contract says of every invalid input (and a form post, which a
        # cross-site page can make, is never read as JSON).
        raise ApiError(
            400, "unsupported_content_type", "send the body as Content-Type: application/json"
        )
    check_json_depth(request.get_data(cache=True))
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    check_json_text(body)
    return body


def query_args(model: type[M]) -> M:
    """Validate the query string (strings converted to numbers, lax); nothing undocumented.

    An empty value (`?limit=`), a repeated or an unknown parameter is a 400 naming it.
    """
    for name, values in request.args.lists():
        if name not in model.model_fields:
            raise ApiError(400, "invalid_request", f"{name}: unknown query parameter", name)
        if len(values) > 1:
            raise ApiError(400, "invalid_request", f"{name}: given more than once", name)
        if values[0] == "":
            raise ApiError(400, "invalid_request", f"{name}: a value is required", name)
    return validate(model, request.args.to_dict(), strict=False)


# -- output ------------------------------------------------------------------------------------


def job_json(record: JobRecord) -> dict[str, Any]:
    """A job as the contract shows it; fallback jobs always carry a warning."""
    data = record.to_json()
    data["bytes"] = record.bytes_downloaded
    data["error_summary"] = summarize_error(record.error)
    data.update(pace(record))
    if record.status == JobStatus.RUNNING and (record.message or "").startswith("claimed by "):
        data["message"] = f"starting: searching {', '.join(record.enabled_sources)}"
    if record.storage == "fallback":
        data["warning"] = data.get("warning") or FALLBACK_WARNING
    return data


def pace(record: JobRecord) -> dict[str, float | None]:
    """Elapsed seconds, items per second and the seconds left, for a job that has started."""
    if record.started_at is None:
        return {"elapsed_seconds": None, "rate_per_second": None, "eta_seconds": None}
    end = record.finished_at or utcnow()
    elapsed = max(0.0, (end - record.started_at).total_seconds())
    rate = record.downloaded / elapsed if elapsed > 0 and record.downloaded else None
    left = max(0, record.max_content - record.downloaded)
    eta = left / rate if rate and record.status == JobStatus.RUNNING else None
    return {
        "elapsed_seconds": round(elapsed, 1),
        "rate_per_second": None if rate is None else round(rate, 2),
        "eta_seconds": None if eta is None else round(eta, 1),
    }


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


class DatabaseUnavailable(Exception):
    """The database could not be read; carries what the fallback store still holds."""

    def __init__(self, reason: str, page: JobPage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.page = page


def unavailable_if_unread(page: JobPage) -> None:
    """Raise DatabaseUnavailable when the page lacks the database's jobs (never an empty 200)."""
    if page.database_error:
        raise DatabaseUnavailable(page.database_error, page)


def _unavailable(exc: DatabaseUnavailable) -> ResponseReturnValue:
    """503 `database_unavailable`, listing the fallback jobs (JSON on the API, a page else)."""
    message = f"the database could not be read ({exc.reason}); run `ops doctor`"
    held = [job_json(j) for j in exc.page.jobs] if exc.page is not None else []
    if not wants_json():
        return unavailable_page(message, held)
    response = error_response(503, "database_unavailable", message)
    body = response.get_json() | {"jobs": held, "total": len(held)}
    response.set_data(json_dumps(body))
    return response


def health_json(item: HealthItem) -> dict[str, Any]:
    """A health line; paths and ops commands are shown to admins only (they run the fixes)."""
    if current_account().is_admin:
        return vars(item)
    data_dir = current_runtime().settings.data_dir
    output = item.output
    for path in sorted({str(data_dir.resolve()), str(data_dir)}, key=len, reverse=True):
        output = output.replace(f"data directory {path}", "data directory")
        output = output.replace(path, "the data directory")
    return vars(item) | {"output": output, "fix": None}


def dashboard_state() -> dict[str, Any]:
    """The dashboard's data (`DashboardOut` in the OpenAPI document), for the signed-in user."""
    owner = owner_filter()
    active, active_total = active_jobs(owner)
    recent = current_runtime().jobs.list(None, None, owner, 10, 0)
    unavailable_if_unread(recent)
    checks: TTLCache[list[HealthItem]] = current_app.extensions[HEALTH_CACHE_KEY]
    status = system_status(current_runtime(), cached_schema(), checks)
    return {
        "active": [job_json(j) for j in active],
        "active_total": active_total,
        "recent": [job_json(j) for j in recent.jobs],
        "recent_total": recent.total,
        "fallback_jobs": status.fallback_jobs,
        "schema": vars(status.schema),
        "banner": status.banner,
        "health": [health_json(h) for h in status.health],
    }


def init_app(app: Flask) -> None:
    """Build the app's schema-check cache (reflection is too slow for every poll)."""
    ttl = float(app.config.get("SCHEMA_CHECK_SECONDS", 10.0))
    app.extensions[SCHEMA_CACHE_KEY] = schema_cache(runtime_of(app), ttl)
    every = float(app.config.get("HEALTH_CHECK_SECONDS", 2.0))
    app.extensions[HEALTH_CACHE_KEY] = health_cache(runtime_of(app), every)
    app.register_error_handler(DatabaseUnavailable, _unavailable)
