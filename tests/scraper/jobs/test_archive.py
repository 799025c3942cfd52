"""A job's archive: a zip streamed chunk by chunk, its files plus `metadata.json`."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from scraper.jobs.archive import METADATA, entry_names, stream_archive
from scraper.jobs.housekeeping import Removed, delete_job
from scraper.jobs.reads.assets import list_assets
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.conftest import sqlite_only
from tests.scraper.jobs.test_housekeeping import add_job

FIELDS = {
    "name",
    "source",
    "url",
    "landing_url",
    "title",
    "author",
    "license",
    "sha256",
    "size_bytes",
    "content_type",
}


def archive_of(rt: Runtime, job_id: str, chunk: int = 256) -> tuple[zipfile.ZipFile, list[bytes]]:
    assets = list_assets(rt.Session, job_id, limit=1000).assets
    pieces = list(stream_archive(rt.files, {"job_id": job_id}, assets, chunk=chunk))
    return zipfile.ZipFile(io.BytesIO(b"".join(pieces))), pieces


def check_archive(rt: Runtime) -> None:
    job_id = add_job(rt, ["a", "b", "c"])
    zf, pieces = archive_of(rt, job_id)

    assert zf.testzip() is None
    manifest = json.loads(zf.read(METADATA))
    assert manifest["job"] == {"job_id": job_id}
    assert {f["title"] for f in manifest["files"]} == {"title a", "title b", "title c"}
    for line in manifest["files"]:
        assert set(line) == FIELDS
        data = zf.read(line["name"])
        assert hashlib.sha256(data).hexdigest() == line["sha256"]
        assert len(data) == line["size_bytes"] and line["license"] == "CC BY 4.0"
    assert sorted(zf.namelist()) == sorted([METADATA, *(f["name"] for f in manifest["files"])])
    # Streamed: before the manifest, no piece is bigger than a read chunk plus a header.
    assert len(pieces) > 6 and max(len(p) for p in pieces[:-1]) <= 256 + 128


@sqlite_only
def test_the_archive_holds_every_file_and_its_attribution(runtime: Runtime) -> None:
    check_archive(runtime)


@sqlite_only
def test_a_file_missing_from_storage_is_left_out_and_listed(runtime: Runtime) -> None:
    job_id = add_job(runtime, ["a", "b"])
    gone = runtime.files.put_bytes(make_png("a"), "image/png").path
    runtime.files.delete(gone)

    zf, _ = archive_of(runtime, job_id)

    manifest = json.loads(zf.read(METADATA))
    assert [f["title"] for f in manifest["files"]] == ["title b"]
    assert [f["title"] for f in manifest["missing"]] == ["title a"]
    assert len(zf.namelist()) == 2


def test_entry_names_are_unique_and_safe() -> None:
    job_id = "j"

    class A:
        def __init__(self, n: int, filename: str) -> None:
            self.id, self.filename, self.source = n, filename, "src"
            self.content_type, self.job_id = "image/png", job_id

    names = entry_names([A(1, "x.png"), A(2, "X.png"), A(3, "../../etc/passwd"), A(4, "x.png")])
    assert names == ["src/x.png", "src/X-2.png", "src/passwd.png", "src/x-3.png"]


@pytest.mark.slow
@sqlite_only
def test_archive_and_delete_work_on_s3_storage(s3_runtime: Runtime) -> None:
    check_archive(s3_runtime)
    other = add_job(s3_runtime, ["d"])
    assert delete_job(s3_runtime.Session, s3_runtime.files, other) == Removed(1, 1, 1)
    assert len(list(s3_runtime.files.keys())) == 3
