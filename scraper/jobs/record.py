"""A job as callers see it, whichever store holds it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row

from scraper.models import JobStatus, ScrapeJob

Storage = Literal["database", "fallback"]
DATETIME_FIELDS = (
    "lease_expires_at",
    "run_after",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
)
HELD = "Why the job is held in the fallback store (only then)."
QUARANTINED = "Why the database keeps refusing this held job; it is no longer retried."
REFUSAL = "The database's own words for the write it refused (a held job only)."


@dataclass
class JobRecord:
    """One job; `storage` tells whether the database or the fallback holds it.

    `quarantined` is the database's reason when a held job was set aside after the database
    refused it the same way again and again (it will not be retried until released).
    """

    id: str
    query: str
    max_content: int
    safe_search: bool
    enabled_sources: list[str]
    user_id: int | None = None
    job_type: str = "search"
    status: JobStatus = JobStatus.PENDING
    progress: int = field(default=0, metadata={"description": "Percent done, 0 to 100."})
    message: str | None = None
    error: str | None = None
    downloaded: int = 0
    bytes_downloaded: int = 0
    result: dict[str, Any] | None = None
    attempts: int = 0
    lease_token: int = 0
    locked_by: str | None = None
    lease_expires_at: datetime | None = None
    run_after: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    schedule_id: int | None = field(
        default=None, metadata={"description": "The schedule whose tick created it, if any."}
    )
    incremental: bool = field(
        default=False,
        metadata={"description": "Skips items an earlier job of its user or schedule stored."},
    )
    storage: Storage = field(default="database", metadata={"description": "Which store holds it."})
    warning: str | None = field(default=None, compare=False, metadata={"description": HELD})
    quarantined: str | None = field(
        default=None, compare=False, metadata={"description": QUARANTINED}
    )
    refusal: str | None = field(default=None, compare=False, metadata={"description": REFUSAL})

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)  # a row, the journal or a caller may pass the text

    @classmethod
    def from_row(cls, row: ScrapeJob | Row[Any]) -> JobRecord:
        """From an entity or a plain row of `scrape_jobs` columns (same attribute names)."""
        values = {name: getattr(row, name) for name in COLUMN_FIELDS}
        values["enabled_sources"] = list(row.enabled_sources or [])
        return cls(**values, storage="database")

    def column_values(self) -> dict[str, Any]:
        """The values to insert as a `scrape_jobs` row."""
        values = asdict(self)
        for name in NOT_COLUMNS:
            values.pop(name)
        values["status"] = self.status.value
        return values

    def to_json(self) -> dict[str, Any]:
        """The one serialisation: JSON-safe, datetimes as ISO 8601, `job_id` beside `id`."""
        # Shallow on purpose: asdict() deep-copies every field, the dashboard poll's hot spot.
        data: dict[str, Any] = {}
        for name in ALL_FIELDS:
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        data["enabled_sources"] = list(self.enabled_sources)
        data["status"] = self.status.value
        data["job_id"] = self.id
        for name in ("warning", "quarantined", "refusal"):
            if data[name] is None:
                data.pop(name)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key in DATETIME_FIELDS:
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


# Computed once: dataclasses.fields() per call was a visible share of the dashboard poll.
ALL_FIELDS = tuple(f.name for f in fields(JobRecord))
NOT_COLUMNS = ("storage", "warning", "quarantined", "refusal")
COLUMN_FIELDS = tuple(name for name in ALL_FIELDS if name not in NOT_COLUMNS)
