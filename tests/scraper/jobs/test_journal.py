"""The fallback journal survives torn writes: no good record glued to a bad one, nothing deleted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from scraper.jobs import FallbackStore, JobRecord
from scraper.jobs import journal as jr
from scraper.models import utcnow


def record(job_id: str) -> JobRecord:
    now = utcnow()
    return JobRecord(
        id=job_id,
        query=f"held {job_id}",
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        created_at=now,
        updated_at=now,
    )


def tear(path: Path) -> bytes:
    """Leave half a record at the end, as a crash (or a full disk) in mid-append does."""
    fragment = jr.encode({"op": "put", "job": record("torn").to_json()})[:57]
    with open(path, "ab") as handle:
        handle.write(fragment)
    return fragment


def quarantined_lines(path: Path) -> list[str]:
    lines = jr.quarantine_path(path).read_text().splitlines()
    return [json.loads(line)["line"] for line in lines]


def test_every_record_carries_a_checksum_and_a_flipped_byte_is_caught() -> None:
    line = jr.encode({"op": "gone", "id": "abc"})
    assert jr.decode(line) == {"op": "gone", "id": "abc"}
    assert jr.decode(line.replace(b"abc", b"abd")) is None
    assert jr.decode(line[:-8]) is None


def test_journals_of_the_older_format_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    old = {"op": "put", "job": record("old-1").to_json(), "at": utcnow().isoformat()}
    path.write_text(json.dumps(old, sort_keys=True) + "\n")
    store = FallbackStore(path)
    assert [job.id for job in store.jobs()] == ["old-1"]
    store.put(record("new-1"))
    assert [job.id for job in FallbackStore(path).jobs()] == ["old-1", "new-1"]


def test_a_record_appended_after_a_torn_tail_is_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    FallbackStore(path).put(record("before"))
    tear(path)
    FallbackStore(path).put(record("after"))
    assert [job.id for job in FallbackStore(path).jobs()] == ["before", "after"]


def test_start_up_cuts_the_torn_tail_names_it_and_keeps_it_in_quarantine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    FallbackStore(path).put(record("kept"))
    good = path.read_bytes()
    fragment = tear(path)
    with caplog.at_level(logging.WARNING, logger="scraper.jobs.journal"):
        scan = FallbackStore(path).repair()
    assert scan.torn_tail == fragment
    assert path.read_bytes() == good
    assert any("torn" in r.getMessage() and "57 bytes" in r.getMessage() for r in caplog.records)
    assert quarantined_lines(path) == [fragment.decode()]
    assert [job.id for job in FallbackStore(path).jobs()] == ["kept"]


def test_unreadable_lines_move_to_quarantine_and_are_never_deleted(tmp_path: Path) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    store = FallbackStore(path)
    store.put(record("one"))
    with open(path, "ab") as handle:
        handle.write(b'{"op": "put", "garbage\n\xff\xfe not utf-8\n')
    store.put(record("two"))
    store.discard("one")
    store.discard("two")  # the store is empty: compaction rewrites the file
    assert path.read_bytes() == b""
    assert quarantined_lines(path) == ['{"op": "put", "garbage', "\\xff\\xfe not utf-8"]


def test_start_up_repair_keeps_every_good_record_around_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    FallbackStore(path).put(record("a"))
    with open(path, "ab") as handle:
        handle.write(b"not json at all\n")
    FallbackStore(path).put(record("b"))
    scan = FallbackStore(path).repair()
    assert [line for _, line in scan.bad] == [b"not json at all"]
    assert [job.id for job in FallbackStore(path).jobs()] == ["a", "b"]
    assert all(jr.decode(line) for line in path.read_bytes().splitlines())
    assert quarantined_lines(path) == ["not json at all"]


def test_a_job_refused_the_same_way_three_times_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "fallback-jobs.jsonl"
    store = FallbackStore(path, quarantine_after=3)
    store.put(record("poison"))
    assert not store.refused("poison", "invalid byte sequence")
    assert not store.refused("poison", "another reason")  # a different reason starts over
    assert not store.refused("poison", "another reason")
    assert store.refused("poison", "another reason")
    reread = FallbackStore(path, quarantine_after=3)  # another process sees the same
    assert [job.quarantined for job in reread.jobs()] == ["another reason"]
    assert reread.waiting() == [] and [job.id for job in reread.quarantined()] == ["poison"]
