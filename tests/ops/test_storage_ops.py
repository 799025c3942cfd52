"""`ops doctor`, `ops trace` and `ops storage` against a real SeaweedFS bucket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from ops.cli import main
from ops.smoke import free_port
from ops.storage import migrate
from scraper.config import Settings
from scraper.jobs import NewJob
from scraper.jobs.assets import asset_row
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources.base import MediaItem
from scraper.sources.selftest import make_png
from scraper.storage import FileStore, open_store
from tests.plugins.seaweedfs import SeaweedFS
from tests.plugins.web import make_app, make_users


@pytest.fixture
def runtime(env_runtime: Runtime) -> Runtime:
    """An initialized database of each dialect (see tests/ops/conftest.py)."""
    return env_runtime


def ops(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def use_bucket(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the ops commands at `url` (the `s3_bucket` fixture set the AWS_* variables)."""
    monkeypatch.setenv("SCRAPER_STORAGE_URL", url)


def storage_check(report: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == "storage:writable")
    return found


@pytest.mark.parametrize(
    ("case", "problem", "fix"),
    [
        ("missing bucket", "bucket_missing", "ops storage create-bucket"),
        ("refused credentials", "credentials_refused", "export AWS_ACCESS_KEY_ID="),
        ("unreachable endpoint", "endpoint_unreachable", "SCRAPER_S3_ENDPOINT_URL"),
    ],
)
def test_doctor_names_the_storage_problem_and_its_fix(
    runtime: Runtime,
    seaweedfs: SeaweedFS,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    problem: str,
    fix: str,
) -> None:
    runtime.settings.data_dir.mkdir(exist_ok=True)
    bucket = "not-made-yet" if case == "missing bucket" else s3_bucket
    use_bucket(monkeypatch, f"s3://{bucket}/media")
    if case == "refused credentials":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    if case == "unreachable endpoint":
        monkeypatch.setenv("SCRAPER_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")

    code, report = ops("doctor")
    assert code == 1, report
    check = storage_check(report)
    assert check["status"] == "fail" and check["evidence"]["problem"] == problem
    assert report["root_cause"]["check"] == "storage:writable", report["root_cause"]
    assert fix in report["root_cause"]["fix"]
    assert seaweedfs.object_keys(s3_bucket) == [], "the probe object was left behind"


@pytest.mark.slow
def test_create_bucket_is_the_fix_for_a_missing_bucket(
    runtime: Runtime, seaweedfs: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.settings.data_dir.mkdir(exist_ok=True)
    bucket = f"{s3_bucket}-new"
    use_bucket(monkeypatch, f"s3://{bucket}/media")
    assert ops("storage", "create-bucket") == (0, {"bucket": bucket, "created": True})
    assert ops("storage", "create-bucket")[1]["created"] is False
    code, report = ops("doctor")
    check = storage_check(report)
    assert check["status"] == "pass", check
    assert f"s3://{bucket}/media" in check["output"]


def test_trace_checks_the_file_hop_in_the_bucket_and_cleans_it(
    runtime: Runtime, seaweedfs: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_bucket(monkeypatch, f"s3://{s3_bucket}/media")
    result = CliRunner().invoke(main, ["trace", "--json", "--timeout", "30"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, report
    hop = next(h for h in report["hops"] if h["name"] == "files:on_disk")
    assert hop["status"] == "pass" and hop["evidence"]["storage"] == f"s3://{s3_bucket}/media"
    assert all(key.startswith("downloads/") for key in hop["evidence"]["files"])
    assert seaweedfs.object_keys(s3_bucket) == [], "the trace left its files in the bucket"


def local_assets(runtime: Runtime, count: int) -> list[str]:
    """`count` files on local disk with asset rows; their keys."""
    job = runtime.jobs.create(NewJob(query="migrate", max_content=count))
    local = FileStore(runtime.settings.data_dir)
    keys = []
    for i in range(count):
        stored = local.put_bytes(make_png(f"migrate/{i}"), "image/png", f"m{i}")
        item = MediaItem(url=f"selftest://{i}.png", mime="image/png")
        with runtime.Session() as session, session.begin():
            session.add(asset_row(job.id, "selftest", item, stored))
        keys.append(stored.path)
    return keys


@pytest.mark.slow
def test_storage_migrate_copies_every_file_once_and_resumes(
    runtime: Runtime, seaweedfs: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = local_assets(runtime, 6)
    target = f"s3://{s3_bucket}/media"

    code, dry = ops("storage", "migrate", "--to", target, "--dry-run")
    assert (code, dry["would_copy"], dry["copied"]) == (0, 6, 0)
    assert seaweedfs.object_keys(s3_bucket) == []

    bucket = open_store(target, runtime.settings.data_dir, seaweedfs.endpoint)
    bucket.put_bytes(make_png("migrate/0"), "image/png")  # as if a first run was interrupted
    code, first = ops("storage", "migrate", "--to", target)
    assert (code, first["copied"], first["present"], first["failed"]) == (0, 5, 1, 0)
    assert sorted(bucket.keys()) == sorted(keys)
    assert first["bytes_copied"] == sum(len(make_png(f"migrate/{i}")) for i in range(1, 6))

    code, again = ops("storage", "migrate", "--to", target)
    assert (code, again["copied"], again["present"]) == (0, 0, 6)


@pytest.mark.slow
def test_assets_stay_resolvable_while_files_move(
    runtime: Runtime, seaweedfs: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = local_assets(runtime, 4)
    target = f"s3://{s3_bucket}/media"
    users = make_users(runtime)

    def served_by(settings: Settings) -> set[int]:
        rt = Runtime(settings)
        client = make_app(rt).test_client()
        with rt.Session() as s:
            ids = list(s.scalars(select(Asset.id)))
        ok = {
            i
            for i in ids
            if client.get(f"/api/assets/{i}/file", headers=users.admin.headers).status_code == 200
        }
        rt.close()
        return ok

    before = served_by(runtime.settings)
    switched = runtime.settings.with_overrides(
        storage_url=target, s3_endpoint_url=seaweedfs.endpoint
    )
    half = open_store(target, runtime.settings.data_dir, seaweedfs.endpoint)
    migrate(FileStore(runtime.settings.data_dir), half, keys=keys[:2])
    during = served_by(switched)  # switched over with half the files copied
    ops("storage", "migrate", "--to", target)
    with runtime.Session() as s:
        paths = set(s.scalars(select(Asset.path)))
    for key in keys:
        FileStore(runtime.settings.data_dir).delete(key)
    after = served_by(switched)
    assert len(before) == 4 and before == during == after
    assert paths == set(keys), "asset rows changed"
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 4


def test_migrate_refuses_an_unwritable_target_with_the_fix(
    runtime: Runtime, s3_bucket: str
) -> None:
    local_assets(runtime, 1)
    result = CliRunner().invoke(main, ["storage", "migrate", "--to", "s3://absent-bucket/x"])
    assert result.exit_code == 2
    assert "absent-bucket does not exist" in result.stderr
    assert "create-bucket" in result.stderr
