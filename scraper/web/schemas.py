"""Pydantic models of the API: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from scraper.errors import InvalidQuery
from scraper.jobs.reader import JobFilter, JobSort
from scraper.jobs.shape import JobOut
from scraper.models import JobStatus
from scraper.sources import source_class, source_names
from scraper.web.bounds import storable_instant

DEFAULT_MAX_CONTENT_LIMIT = 500
QUERY_MAX_LENGTH = 500
# The largest id an INTEGER column holds on every dialect (PostgreSQL's is 32-bit).
MAX_ROW_ID = 2**31 - 1


def storable(value: str) -> str:
    """Refuse text no database can store: NUL characters and unpaired surrogates."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "invalid_unicode", "must be valid Unicode (it holds an unpaired surrogate)"
        ) from None
    return value


StorableText = Annotated[str, AfterValidator(storable)]
Query = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=QUERY_MAX_LENGTH),
    AfterValidator(storable),
]


class SearchRequest(BaseModel):
    """`POST /api/comprehensive-search`: what to search for, how much, and where."""

    model_config = ConfigDict(extra="ignore")

    query: Query = Field(description="What to search for (1 to 500 characters).")
    max_content: int = Field(
        default=10, ge=1, description="How many items to download (at most the configured limit)."
    )
    safe_search: bool = Field(default=True, description="Ask sources to filter adult content.")
    enabled_sources: list[str] = Field(
        min_length=1, description="Registered source names to search (required)."
    )
    incremental: bool = Field(
        default=False,
        description="Skip items an earlier job of the same user already stored (decided "
        "before downloading; counted per source as `skipped_seen`).",
    )

    @field_validator("max_content")
    @classmethod
    def _within_limit(cls, value: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_content_limit", DEFAULT_MAX_CONTENT_LIMIT)
        if value > limit:
            raise PydanticCustomError(
                "less_than_equal", "Input should be less than or equal to {le}", {"le": limit}
            )
        return value

    @field_validator("enabled_sources")
    @classmethod
    def _registered(cls, value: list[str]) -> list[str]:
        known = source_names()
        for name in value:
            if name not in known:
                raise PydanticCustomError(
                    "unknown_source",
                    "unknown source '{name}'; known sources: {known}",
                    {"name": name, "known": ", ".join(known)},
                )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _query_suits_sources(self) -> SearchRequest:
        """Each source checks the query it will get (`url` wants a URL): a 400 naming `query`."""
        for name in self.enabled_sources:
            try:
                source_class(name).validate_query(self.query)
            except InvalidQuery as exc:
                error = PydanticCustomError("invalid_query", "{reason}", {"reason": str(exc)})
                details = InitErrorDetails(type=error, loc=("query",), input=self.query)
                raise ValidationError.from_exception_data(type(self).__name__, [details]) from None
        return self


class Page(BaseModel):
    """Paging of list endpoints."""

    limit: int = Field(default=50, ge=1, le=500, description="Page size (1 to 500).")
    offset: int = Field(default=0, ge=0, le=MAX_ROW_ID, description="How many to skip.")


def _known(name: str, choices: Callable[[], list[str]]) -> Callable[[Any], Any]:
    """A before-validator: a value outside `choices` is refused in words a person can act on."""

    def check(value: Any) -> Any:
        known = choices()
        if isinstance(value, str) and value not in known:
            raise PydanticCustomError(
                "unknown_value",
                "Unknown {name} {value}; choose one of: {known}.",
                {"name": name, "value": repr(value), "known": ", ".join(known)},
            )
        return value

    return check


class JobFilters(BaseModel):
    """Which jobs a list shows and in what order: `GET /api/jobs` and the `/jobs` page alike."""

    status: Annotated[
        JobStatus | None,
        BeforeValidator(_known("status", lambda: [s.value for s in JobStatus])),
    ] = Field(default=None, description="Only jobs with this status.")
    q: Annotated[str | None, StringConstraints(strip_whitespace=True)] = Field(
        default=None, max_length=QUERY_MAX_LENGTH, description="Text the job's query contains."
    )
    source: Annotated[str | None, BeforeValidator(_known("source", source_names))] = Field(
        default=None, description="Only jobs that search this source."
    )
    since: datetime | None = Field(
        default=None, description="Created at or after (ISO 8601; UTC when no offset)."
    )
    until: datetime | None = Field(default=None, description="Created before (ISO 8601).")
    sort: Annotated[
        JobSort, BeforeValidator(_known("sort", lambda: [s.value for s in JobSort]))
    ] = Field(
        default=JobSort.NEWEST, description="Order of the database's jobs (fallback ones first)."
    )

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else storable_instant(value)

    def where(self, user_id: int | None) -> JobFilter:
        """The store's filter for these values, limited to one owner's jobs (None: all)."""
        status = self.status.value if self.status is not None else None
        values = self.model_dump(include={"q", "source", "since", "until", "sort"})
        return JobFilter(status=status, user_id=user_id, **values)


class JobListQuery(Page, JobFilters):
    """`GET /api/jobs` query parameters: the list filters, the store, and paging (keyset by
    `cursor`, or `offset`)."""

    limit: int = Field(default=50, ge=1, le=200, description="Page size (1 to 200).")
    cursor: str | None = Field(
        default=None,
        max_length=512,
        description="The `next_cursor` of the previous page: the next page in the same order.",
    )
    storage: Literal["database", "fallback"] | None = Field(
        default=None, description="Only jobs held in this store."
    )


class BulkRequest(BaseModel):
    """`POST /api/jobs/bulk`: one action on many jobs."""

    action: Literal["retry", "cancel"]
    job_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=500, description="Up to 500 job ids."
    )


class BulkItem(BaseModel):
    """One job's outcome: its new status, or why the action was refused."""

    job_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


class BulkResult(BaseModel):
    results: list[BulkItem]


class WorkerOut(BaseModel):
    """One worker: where it runs, its last heartbeat, the jobs in its hands."""

    worker: str
    host: str
    pid: int
    started_at: str
    last_heartbeat_at: str
    jobs: list[str]
    state: Literal["busy", "idle", "stale"]
    jobs_done: int
    last_error: str | None = Field(None, description='"claims are failing: ..." when so.')


class WorkerList(BaseModel):
    workers: list[WorkerOut]


class StatsQuery(BaseModel):
    """`GET /api/stats` query parameters."""

    window: Literal["1h", "24h", "7d"] = Field(default="24h", description="How far back.")


class StatsBucket(BaseModel):
    start: str
    created: int
    completed: int
    failed: int
    files: int
    bytes: int


class SourceStats(BaseModel):
    found: int
    stored: int
    failed: int = Field(description="Jobs in which the source failed.")


class StatsOut(BaseModel):
    """Activity per time bucket and per source, computed from the database."""

    window: str
    bucket_seconds: int
    buckets: list[StatsBucket]
    sources: dict[str, SourceStats]


class AssetListQuery(Page):
    """`GET /api/assets` query parameters."""

    job_id: StorableText | None = Field(
        default=None, max_length=64, description="Only this job's assets."
    )
    cursor: str | None = Field(
        default=None,
        max_length=512,
        description="The `next_cursor` of the previous page: the next, older assets.",
    )


class ErrorOut(BaseModel):
    """Every error: a stable code and a sentence that names the field and the problem."""

    error: str
    message: str
    field: str | None = None


class BusyOut(ErrorOut):
    """429 / 503 for an expensive read that found no slot: `limit` names the setting."""

    error: str = Field(description="`too_many_requests` (429), `server_busy` (503), or 503's "
                       "`database_unavailable`.")  # fmt: skip
    limit: str | None = Field(
        default=None, description="`SCRAPER_WEB_USER_READS` or `SCRAPER_WEB_READS`."
    )


class SearchCreated(BaseModel):
    """The job a search created, and where it is held."""

    success: bool = True
    job_id: str
    status: str
    storage: Literal["database", "fallback"]
    warning: str | None = Field(default=None, description="Why the job is held in the fallback.")
    refusal: str | None = Field(
        default=None, description="The database's own words for the write it refused."
    )


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int = Field(description="Exact up to 10,000; beyond, maybe the planner's estimate.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
    total_is_estimate: bool = Field(default=False, description="True when `total` is estimated.")
    missing_columns: list[str] | None = Field(
        default=None, description="Columns scrape_jobs lacks; its jobs were read without them."
    )


class JobCounts(BaseModel):
    """The signed-in user's jobs in the database per status (an admin's: everyone's)."""

    counts: dict[str, int] = Field(description="Every status, with 0 for none.")
    active: int = Field(description="Pending and running jobs together.")


class Unavailable(BaseModel):
    """503: the database could not be read (the jobs held in the fallback store still are),
    or the server was busy with other expensive reads (`server_busy`, `limit` names the
    setting)."""

    error: Literal["database_unavailable", "server_busy"]
    message: str
    limit: str | None = None
    jobs: list[JobOut] = Field(default_factory=list)
    total: int = 0


class AssetOut(BaseModel):
    """A stored file of a job."""

    id: int
    job_id: str
    source: str
    url: str
    filename: str
    sha256: str
    size_bytes: int
    content_type: str
    title: str | None = None
    license: str | None = None
    author: str | None = None
    landing_url: str | None = Field(None, description="The page about the item at its source.")
    created_at: str
    file_url: str = Field(description="Where `GET` serves the file.")


class AssetList(BaseModel):
    assets: list[AssetOut]
    total: int = Field(description="Exact up to 10,000; beyond, maybe an estimate.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
    total_is_estimate: bool = Field(default=False, description="True when `total` is estimated.")


class SourceOut(BaseModel):
    """A registered source a search may name."""

    name: str
    description: str
    safe_search: str | None = Field(description="The filter safe search maps to; null: none.")


class SourceList(BaseModel):
    sources: list[SourceOut]


class HealthItem(BaseModel):
    """One health check, as `/readyz` names it."""

    name: str
    status: Literal["pass", "warn", "fail"]
    output: str
    fix: str | None = None


class SchemaState(BaseModel):
    in_sync: bool | None = Field(description="None when the schema could not be checked.")
    differences: int
    error: str | None = None


class DashboardOut(BaseModel):
    """What the dashboard polls: active jobs, recent jobs, the banner and the health panel."""

    active: list[JobOut]
    active_total: int
    recent: list[JobOut]
    recent_total: int
    counts: dict[str, int] = Field(
        default_factory=dict, description="The user's jobs in the database, per status."
    )
    fallback_jobs: int
    schema_state: SchemaState = Field(alias="schema")
    banner: list[str]
    health: list[HealthItem]

    model_config = ConfigDict(populate_by_name=True)


def describe_errors(exc: ValidationError) -> tuple[str, str]:
    """(the first field named, one message naming every field and its problem)."""
    parts, first = [], ""
    for error in exc.errors(include_url=False):
        field = _field_name(error["loc"])
        first = first or field
        parts.append(f"{field}: {error['msg']}" if field else error["msg"])
    return first, "; ".join(parts)


# Pydantic's wording for a person at a form: one sentence per problem, the field beside it.
PLAIN_WORDS: dict[str, str] = {
    "missing": "This is required.",
    "string_too_short": "At least {min_length} characters.",
    "string_too_long": "At most {max_length} characters.",
    "less_than_equal": "At most {le}.",
    "greater_than_equal": "At least {ge}.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "too_short": "Choose at least {min_length}.",
}


def field_problems(exc: ValidationError) -> dict[str, str]:
    """Each top-level field named by the errors and its first problem, in plain words.

    A form shows each beside its own field (never two fields' messages under one).
    """
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        if field and field not in problems:
            problems[field] = plain_words(error["type"], error["msg"], error.get("ctx") or {})
    return problems


def plain_words(kind: str, raw: str, ctx: dict[str, Any]) -> str:
    """The sentence for one validation error: ours for the common kinds, else pydantic's."""
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "This cannot be empty." if kind == "string_too_short" else "Choose at least one."
    try:
        return PLAIN_WORDS[kind].format(**ctx)
    except KeyError:  # not a kind we word, or its context lacks the number
        return raw[:1].upper() + raw[1:] + ("" if raw.endswith(".") else ".")


def _field_name(loc: tuple[Any, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name
