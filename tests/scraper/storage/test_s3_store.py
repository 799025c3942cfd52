"""The S3 backend against a real SeaweedFS: keys, de-duplication, multipart, failures."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import pytest

from ops.smoke import free_port
from scraper.sources.selftest import make_png
from scraper.storage import (
    FileMissing,
    PathEscape,
    StorageUnavailable,
    open_store,
    stored_key,
)
from scraper.storage.errors import BUCKET_MISSING, CREDENTIALS_REFUSED, ENDPOINT_UNREACHABLE
from scraper.storage.s3 import MULTIPART_THRESHOLD, S3Store
from tests.plugins.seaweedfs import SeaweedFS


def s3_store(seaweedfs: SeaweedFS, bucket: str, data_dir: Path, prefix: str = "media") -> S3Store:
    store = open_store(f"s3://{bucket}/{prefix}", data_dir, seaweedfs.endpoint, "us-east-1")
    assert isinstance(store, S3Store)
    return store


def test_a_stored_file_is_an_object_under_the_prefix_and_its_content_address(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path
) -> None:
    store = s3_store(seaweedfs, s3_bucket, data_dir)
    blob = make_png("s3/one")
    stored = store.put_bytes(blob, "image/png", "one.png")

    digest = hashlib.sha256(blob).hexdigest()
    assert stored.path == stored_key(digest, "image/png") == f"downloads/{digest[:2]}/{digest}.png"
    assert f"media/{stored.path}" in seaweedfs.object_keys(s3_bucket)
    assert store.exists(stored.path) and store.read_bytes(stored.path) == blob
    assert list(store.keys()) == [stored.path]
    assert not list((data_dir / "tmp").glob("*.part")), "the staged file was left behind"
    assert not (data_dir / "downloads").exists(), "an S3 store wrote to the local disk"
    assert store.delete(stored.path) and not store.exists(stored.path)
    assert not store.delete(stored.path)


def test_content_already_present_is_not_uploaded_again(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = s3_store(seaweedfs, s3_bucket, data_dir)
    other_host = s3_store(seaweedfs, s3_bucket, data_dir / "elsewhere")
    blob = make_png("s3/twice")
    with caplog.at_level(logging.INFO, logger="scraper.storage.s3"):
        a = first.put_bytes(blob, "image/png")
        b = other_host.put_bytes(blob, "image/png")
    assert a.path == b.path
    uploads = [r for r in caplog.records if r.getMessage().startswith("uploaded")]
    assert len(uploads) == 1, [r.getMessage() for r in uploads]
    assert b.claimed, "the second store reuses the file under a claim"
    claims = [k for k in seaweedfs.object_keys(s3_bucket) if k.startswith("media/claims/")]
    assert [k.rsplit("/", 1)[0] for k in claims] == [f"media/claims/{a.path}"]
    other_host.release(b.path)
    assert seaweedfs.object_keys(s3_bucket) == [f"media/{a.path}"]


def test_a_large_file_is_uploaded_in_parts(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path
) -> None:
    store = s3_store(seaweedfs, s3_bucket, data_dir, prefix="")
    blob = os.urandom(MULTIPART_THRESHOLD * 2 + 12345)
    stored = store.put_bytes(blob, "video/mp4")

    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key=stored.path)
    assert head["ContentLength"] == len(blob)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # a multipart upload's ETag
    assert head["ContentType"] == "video/mp4"
    opened = store.open(stored.path)
    assert opened.size == len(blob) and opened.local_path is None
    assert hashlib.sha256(opened.stream.read()).hexdigest() == stored.sha256


def test_reads_of_missing_and_escaping_keys_are_refused(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path
) -> None:
    store = s3_store(seaweedfs, s3_bucket, data_dir)
    store.read_through = None
    with pytest.raises(FileMissing):
        store.open(stored_key("ab" * 32, "image/png"))
    for key in ("../etc/passwd", "/downloads/x.png", "downloads/../../x"):
        with pytest.raises(PathEscape):
            store.open(key)


def test_a_key_not_copied_yet_is_read_through_from_the_data_dir(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path
) -> None:
    local = open_store(None, data_dir)
    stored = local.put_bytes(make_png("s3/local-only"), "image/png")
    store = s3_store(seaweedfs, s3_bucket, data_dir)
    assert not store.exists(stored.path)
    assert store.read_bytes(stored.path) == make_png("s3/local-only")


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("missing bucket", BUCKET_MISSING),
        ("wrong secret", CREDENTIALS_REFUSED),
        ("unknown key id", CREDENTIALS_REFUSED),
        ("nobody listening", ENDPOINT_UNREACHABLE),
    ],
)
def test_a_failed_upload_names_its_cause_and_leaves_nothing(
    seaweedfs: SeaweedFS,
    s3_bucket: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    kind: str,
) -> None:
    bucket, endpoint = s3_bucket, seaweedfs.endpoint
    if case == "missing bucket":
        bucket = "no-such-bucket-here"
    elif case == "wrong secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    elif case == "unknown key id":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    else:
        endpoint = f"http://127.0.0.1:{free_port()}"
    store = open_store(f"s3://{bucket}/p", data_dir, endpoint, "us-east-1")

    with pytest.raises(StorageUnavailable) as raised:
        store.put_bytes(make_png(f"s3/{case}"), "image/png")
    assert raised.value.problem.kind == kind, raised.value.problem
    assert raised.value.problem.fix
    assert seaweedfs.object_keys(s3_bucket) == []
    assert not list((data_dir / "tmp").glob("*.part"))
    with pytest.raises(StorageUnavailable) as probed:
        store.check_writable()
    assert probed.value.problem.kind == kind


def test_claims_left_by_a_dead_worker_are_swept_and_live_ones_kept(
    seaweedfs: SeaweedFS, s3_bucket: str, data_dir: Path
) -> None:
    first = s3_store(seaweedfs, s3_bucket, data_dir)
    killed = s3_store(seaweedfs, s3_bucket, data_dir / "killed")
    stored = first.put_bytes(make_png("s3/swept"), "image/png")
    assert killed.put_bytes(make_png("s3/swept"), "image/png").claimed  # never released

    def claims() -> list[str]:
        return [k for k in seaweedfs.object_keys(s3_bucket) if k.startswith("media/claims/")]

    assert first.sweep_claims() == 0, "a claim younger than CLAIM_SECONDS still counts"
    assert len(claims()) == 1
    time.sleep(1.1)  # object times have one-second resolution
    assert first.sweep_claims(max_age=0.5) == 1
    assert claims() == []
    assert seaweedfs.object_keys(s3_bucket) == [f"media/{stored.path}"], "a file was swept"
