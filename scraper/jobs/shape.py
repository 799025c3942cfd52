"""A job's public shape: the one model the API answers with, documents, and the pages render.

`JobOut` is derived from `JobRecord` (every field of the record, with its type and
default) plus what the API adds to it (`JobExtras`: the id again as `job_id`, bytes, a
one-line error and the pace). `job_json` is the one serialisation for people and scripts;
the OpenAPI document takes `JobOut`'s serialisation schema.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import MISSING
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializeAsAny,
    SkipValidation,
    create_model,
)

from scraper.jobs.explain import summarize_error
from scraper.jobs.record import DATETIME_FIELDS, JobRecord
from scraper.models import JobStatus, utcnow

FALLBACK_WARNING = (
    "the database refused this job; it is held in the fallback store and runs once it is "
    "reconciled into the database (run `ops doctor`)"
)
# Shown only when they say something (a held job's notes).
NOTES = ("warning", "quarantined", "refusal")


def _notes_optional(schema: dict[str, Any]) -> None:
    """Every field is always in the document, but a held job's notes only when set."""
    schema["required"] = [name for name in schema.get("required", []) if name not in NOTES]


class SourceResult(BaseModel):
    """What one source gave a job: found, stored, skipped by reason, and its error."""

    safe_search: str = Field(description='The filter applied ("mature=false"), or why none.')
    found: int
    stored: int
    bytes: int
    skipped: dict[str, int] = Field(description="Items not stored, counted by reason.")
    problems: list[str] = Field(description="The first few reasons, with their URLs.")
    error: str | None = Field(None, description="Why the source failed, if it did.")


class JobResult(BaseModel):
    """Per-source result of a job, written as it runs."""

    planned: int
    stored: int
    bytes: int
    current_source: str | None = None
    sources: dict[str, SourceResult]


class JobExtras(BaseModel):
    """What the API adds to a job's record."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, json_schema_extra=_notes_optional
    )

    job_id: str = Field(description="The job's id (the same as `id`).")
    bytes: int = Field(description="Same as bytes_downloaded.")
    error_summary: str | None = Field(
        default=None, description="The error in one line a person understands."
    )
    elapsed_seconds: float | None = Field(None, description="Since it started (to its end).")
    rate_per_second: float | None = Field(None, description="Items stored per second.")
    eta_seconds: float | None = Field(None, description="Seconds left at the current rate.")


def _isoformat(value: datetime) -> str:
    return value.isoformat()  # "+00:00", as Python writes it (pydantic would write "Z")


IsoDatetime = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
# The record keeps the result as the worker wrote it: documented as JobResult, passed unchanged.
StoredResult = Annotated[SerializeAsAny[JobResult | None], SkipValidation]


def _public_field(record_field: dataclasses.Field[Any], hint: Any) -> tuple[Any, Any]:
    """A record field as the public model declares it: same name, type, default and words."""
    if record_field.name in DATETIME_FIELDS:
        hint = IsoDatetime | None
    elif record_field.name == "result":
        hint = StoredResult
    default = ... if record_field.default is MISSING else record_field.default
    return hint, Field(default, description=record_field.metadata.get("description"))


def _record_fields() -> dict[str, Any]:
    hints = typing.get_type_hints(JobRecord)
    return {f.name: _public_field(f, hints[f.name]) for f in dataclasses.fields(JobRecord)}


class JobOut(create_model("JobRecordOut", **_record_fields()), JobExtras):  # type: ignore[misc]
    """A job as the API shows it, whichever store holds it."""

    @classmethod
    def of(cls, record: JobRecord) -> JobOut:
        """The public shape of a record: a fallback job always carries a warning."""
        values = {name: getattr(record, name) for name in cls.model_fields if hasattr(record, name)}
        values |= {
            "job_id": record.id,
            "bytes": record.bytes_downloaded,
            "error_summary": summarize_error(record.error),
            "message": shown_message(record),
            **pace(record),
        }
        if record.storage == "fallback":
            values["warning"] = record.warning or FALLBACK_WARNING
        return cls.model_validate(values)

    def to_json(self) -> dict[str, Any]:
        """The document: JSON-safe, datetimes as ISO 8601, a held job's notes only when set."""
        absent = {name for name in NOTES if getattr(self, name) is None}
        data: dict[str, Any] = self.model_dump(mode="json", exclude=absent)
        return data


def job_json(record: JobRecord) -> dict[str, Any]:
    """A job as the contract shows it (`JobOut`, serialised)."""
    return JobOut.of(record).to_json()


def shown_message(record: JobRecord) -> str | None:
    """The message, except a just-claimed job says what it starts on."""
    if record.status == JobStatus.RUNNING and (record.message or "").startswith("claimed by "):
        return f"starting: searching {', '.join(record.enabled_sources)}"
    return record.message


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
