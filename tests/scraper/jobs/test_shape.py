"""A job's public shape: one model, derived from the record, that the document really has."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from scraper.jobs.record import JobRecord
from scraper.jobs.shape import FALLBACK_WARNING, NOTES, JobOut, job_json
from scraper.models import JobStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RUNNING = JobRecord(
    "run-1", "cats", 10, True, ["selftest"], status=JobStatus.RUNNING, downloaded=4,
    bytes_downloaded=400, message="claimed by w1", started_at=NOW - timedelta(seconds=8),
    created_at=NOW - timedelta(minutes=1), result={"planned": 10, "stored": 4, "extra": [1]},
)  # fmt: skip
HELD = JobRecord(
    "held-1", "dogs", 5, False, ["selftest"], storage="fallback", quarantined="NOT NULL",
    refusal="null value in column", error="NothingStored: no files",
)  # fmt: skip


def test_every_record_field_is_in_the_public_shape_with_what_the_api_adds() -> None:
    names = set(JobOut.model_fields)
    assert {f.name for f in fields(JobRecord)} <= names
    assert {"job_id", "bytes", "error_summary", "elapsed_seconds", "eta_seconds"} <= names


@pytest.mark.parametrize("record", [RUNNING, HELD], ids=["running", "held"])
def test_the_document_has_every_field_but_absent_notes_and_reads_back(record: JobRecord) -> None:
    data = job_json(record)
    absent = {name for name in NOTES if getattr(record, name) is None}
    if record.storage == "fallback":
        absent.discard("warning")
    assert set(data) == set(JobOut.model_fields) - absent
    assert JobOut.model_validate(data).job_id == record.id == data["id"]


def test_values_are_as_the_contract_shows_them() -> None:
    running, held = job_json(RUNNING), job_json(HELD)
    assert running["created_at"] == "2026-12-03T11:59:00+00:00"  # isoformat, not "Z"
    assert running["message"] == "starting: searching selftest"
    assert running["result"] == RUNNING.result  # passed unchanged, unknown keys too
    assert (running["status"], running["bytes"], running["progress"]) == ("running", 400, 0)
    assert held["warning"] == FALLBACK_WARNING and held["quarantined"] == "NOT NULL"
    assert held["error_summary"] and held["elapsed_seconds"] is None


def test_the_schema_requires_what_is_always_there_but_not_the_notes() -> None:
    schema = JobOut.model_json_schema(mode="serialization")
    assert {"job_id", "status", "progress", "downloaded", "storage"} <= set(schema["required"])
    assert not set(NOTES) & set(schema["required"])
    assert {"warning", "quarantined", "refusal"} <= set(schema["properties"])
