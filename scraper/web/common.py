"""What the API and the dashboard share: list filters and pages, the job and asset documents
(`scraper.jobs.shape`'s, with server paths hidden from non-admins), lookups that 404, job
creation, and the dashboard's state."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, request, url_for
from flask.json import dumps as json_dumps
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup, escape

from scraper.download.reach import ALLOW_HINT, refused_host
from scraper.errors import JobNotFound
from scraper.jobs import JobPage, JobRecord, NewJob
from scraper.jobs.assets import AssetRecord, get_asset
from scraper.jobs.reads.assets import AssetPosition, asset_position
from scraper.jobs.reads.keyset import InvalidCursor, Position
from scraper.jobs.reads.keyset import decode as decode_cursor
from scraper.jobs.shape import job_json as job_document
from scraper.jobs.tally import status_counts
from scraper.metrics.cache import TTLCache
from scraper.models import JobStatus
from scraper.sources import source_class
from scraper.sources.common import UrlQuerySource
from scraper.web.auth import current_account, owner_filter
from scraper.web.bounds import page_number as bounded_page_number
from scraper.web.context import current_runtime, runtime_of
from scraper.web.errors import ApiError, error_response, unavailable_page, wants_json
from scraper.web.operation import validate
from scraper.web.schemas import MAX_ROW_ID, JobFilters, SearchRequest
from scraper.web.status import (
    HealthItem,
    SchemaStatus,
    health_cache,
    schema_cache,
    system_status,
)

SCHEMA_CACHE_KEY = "scraper_schema_cache"
HEALTH_CACHE_KEY = "scraper_health_cache"
FILTER_NAMES = tuple(JobFilters.model_fields)

# -- input -------------------------------------------------------------------------------------

T = TypeVar("T")


def page_number(per_page: int) -> int:
    """The `page` a list page shows (1-based; absent: 1); 400 for one no page can have."""
    return bounded_page_number(request.args.get("page"), per_page)


def page_filters(names: Iterable[str] = FILTER_NAMES) -> tuple[JobFilters, str | None]:
    """A list page's filters from its query string or bulk form, blanks ignored.

    The same model as `GET /api/jobs`; a bad value gives the defaults and the sentence a page
    shows (the API answers 400 instead).
    """
    given = {name: request.values.get(name, "").strip() for name in names}
    try:
        return validate(JobFilters, {k: v for k, v in given.items() if v}, strict=False), None
    except ApiError as exc:
        return JobFilters(), exc.message


def job_cursor(cursor: str | None, sort: str) -> Position | None:
    """The position a `cursor` parameter names; 400 naming `cursor` if we did not make it."""
    return None if cursor is None else _position(lambda: decode_cursor(cursor, sort))


def asset_cursor(cursor: str | None) -> AssetPosition | None:
    """The position an `/api/assets` `cursor` names; 400 naming `cursor` likewise."""
    return None if cursor is None else _position(lambda: asset_position(cursor))


def _position(decode: Callable[[], T]) -> T:
    try:
        return decode()
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_request", f"cursor: {exc}", "cursor") from None


# -- output ------------------------------------------------------------------------------------


# The fields of a job or asset document that say what went wrong, in the server's words.
TELLING_FIELDS = frozenset({"error", "error_summary", "message", "problems"})
# An absolute path of two segments or more that is not part of a URL ("https://h/a/b").
SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\",;:)/]+/)+[^\s'\",;:)]*")


def job_json(record: JobRecord) -> dict[str, Any]:
    """A job as the contract shows it; to a non-admin without the server's paths."""
    return _for_viewer(job_document(record))


def asset_json(record: AssetRecord) -> dict[str, Any]:
    """An asset as the contract shows it, with its file's URL; paths hidden as for a job."""
    data = _for_viewer(record.to_json())
    data["file_url"] = url_for("api.asset_file", asset_id=record.id)
    return data


def _for_viewer(document: dict[str, Any]) -> dict[str, Any]:
    if current_user.is_authenticated and current_account().is_admin:
        return document
    return _hidden(document, current_runtime().settings.data_dir, telling=False)


def _hidden(value: Any, data_dir: Path, telling: bool) -> Any:
    """The document with every path in its telling fields replaced, however deep."""
    if isinstance(value, dict):
        return {k: _hidden(v, data_dir, telling or k in TELLING_FIELDS) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v, data_dir, telling) for v in value]
    if telling and isinstance(value, str):
        return hide_paths(value, data_dir)
    return value


def hide_paths(text: str, data_dir: Path) -> str:
    """The text with the data directory named as such and any other server path as "a path
    on the server" (an ENOSPC error names the file it could not write)."""
    return SERVER_PATH.sub("a path on the server", hide_data_dir(text, data_dir))


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
    refuse_unreachable(search)
    spec = NewJob(
        query=search.query,
        max_content=search.max_content,
        safe_search=search.safe_search,
        enabled_sources=tuple(search.enabled_sources),
        incremental=search.incremental,
    )
    return current_runtime().jobs.create(spec, user_id=current_account().id)


def refuse_unreachable(search: SearchRequest) -> None:
    """400 naming `query` for a URL query the address guard is sure to refuse (localhost, a
    private address): the job could only fail."""
    settings = current_runtime().settings
    if not any(issubclass(source_class(n), UrlQuerySource) for n in search.enabled_sources):
        return
    reason = refused_host(search.query.strip(), settings.allow_private_networks,
                          settings.trusted_hosts)  # fmt: skip
    if reason is not None:
        raise ApiError(400, "invalid_request", f"query: {reason}; {ALLOW_HINT}", "query")


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
    output = hide_data_dir(item.output, current_runtime().settings.data_dir)
    return vars(item) | {"output": output, "fix": None}


def health_label(name: str) -> str:
    """A health line's label, unique per check: "database writes", "worker", "self-heal"."""
    group, _, aspect = name.partition(":")
    if group == "database" and aspect and aspect != "connection":
        return f"database {aspect.replace('_', ' ')}"
    return group.replace("_", "-")


def hide_data_dir(text: str, data_dir: Path) -> str:
    """The text with the data dir's path (and paths under it) said as "the data directory".

    Only a whole path is replaced: a relative data dir `data` must not eat "database".
    """
    for path in sorted({str(data_dir.resolve()), str(data_dir)}, key=len, reverse=True):
        whole = rf"(?<![\w./~-]){re.escape(path)}(?:/[^\s'\",;:)]*)?(?![\w-]|\s+director)"
        text = re.sub(rf"data directory {whole}", "data directory", text)
        text = re.sub(rf"(?:the )?{whole}", "the data directory", text)
    return text


CODE_SPAN = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Markup:
    """The text, escaped, with each `command` in backticks shown as code (as in the docs)."""
    return Markup(CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))


def fix_html(fix: str) -> Markup:
    """A fix as code: the whole of a bare command, only the backticked parts of a sentence."""
    return code_spans(fix if "`" in fix else f"`{fix}`")


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
        "counts": status_counts(current_runtime().Session, owner),
        "fallback_jobs": status.fallback_jobs,
        "schema": vars(status.schema),
        "banner": status.banner,
        "health": [health_json(h) for h in status.panel],
    }


def init_app(app: Flask) -> None:
    """Build the app's schema-check cache (reflection is too slow for every poll)."""
    ttl = float(app.config.get("SCHEMA_CHECK_SECONDS", 10.0))
    app.extensions[SCHEMA_CACHE_KEY] = schema_cache(runtime_of(app), ttl)
    every = float(app.config.get("HEALTH_CHECK_SECONDS", 2.0))
    app.extensions[HEALTH_CACHE_KEY] = health_cache(runtime_of(app), every)
    app.register_error_handler(DatabaseUnavailable, _unavailable)
    app.add_template_filter(health_label)
    app.add_template_filter(code_spans)
    app.add_template_filter(fix_html)
