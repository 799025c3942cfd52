"""`ops storage migrate` and `ops storage create-bucket`: where downloaded files live."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, main, ops_command, runtime_for
from ops.errors import OpsError
from scraper.errors import ConfigError
from scraper.storage import Storage, StorageUnavailable, open_store

if TYPE_CHECKING:
    from scraper.runtime import Runtime


@main.group("storage")
def storage_group() -> None:
    """Where downloaded files live: copy them to another backend, create the bucket."""


@ops_command("migrate", group=storage_group)
@click.option("--to", "to_url", required=True, help="Target: s3://BUCKET/PREFIX or file:///DIR.")
@click.option("--from", "from_url", default=None, help="Source (default: SCRAPER_STORAGE_URL).")
@click.option("--dry-run", is_flag=True, help="List what would be copied; copy nothing.")
def storage_migrate_command(
    opts: Options, to_url: str, from_url: str | None, dry_run: bool
) -> Outcome:
    """Copy every stored file to another storage URL; idempotent and resumable.

    Asset rows do not change (a file's key is its content address in every backend), so
    the service serves every asset throughout; switch SCRAPER_STORAGE_URL afterwards and run
    it once more to copy what was stored meanwhile.
    """
    from ops.storage import migrate, same_place

    runtime = runtime_for(opts)
    source, target = _store(runtime, from_url), _store(runtime, to_url)
    if same_place(source, target):
        raise OpsError(f"source and target are the same store: {target.url}")
    if not dry_run:
        _ensure_writable(target)
    keys = list(source.keys())
    with click.progressbar(length=len(keys), label="copying", file=sys.stderr) as bar:
        report = migrate(source, target, dry_run, lambda _copy: bar.update(1), keys)
    return Outcome(report.to_json(), report.text(), OK if report.ok else PROBLEM)


@ops_command("create-bucket", group=storage_group)
@click.option("--url", default=None, help="s3://BUCKET/PREFIX (default: SCRAPER_STORAGE_URL).")
def storage_create_bucket_command(opts: Options, url: str | None) -> Outcome:
    """Create the bucket of SCRAPER_STORAGE_URL (or --url); exit 0 if it already exists."""
    from scraper.storage.s3 import S3Store  # boto3 is a heavy import: only this command needs it

    files = _store(runtime_for(opts), url)
    if not isinstance(files, S3Store):
        raise OpsError(f"SCRAPER_STORAGE_URL is not an s3:// URL (files live in {files.url})")
    try:
        created = files.create_bucket()
    except StorageUnavailable as exc:
        return Outcome({"error": exc.problem.kind, "fix": exc.problem.fix}, str(exc), PROBLEM)
    text = f"created bucket {files.bucket}" if created else f"bucket {files.bucket} exists"
    return Outcome({"bucket": files.bucket, "created": created}, text)


def _store(runtime: Runtime, url: str | None) -> Storage:
    if url is None:
        return runtime.files
    s = runtime.settings
    try:
        return open_store(url, s.data_dir, s.s3_endpoint_url, s.s3_region)
    except ConfigError as exc:
        raise OpsError(str(exc).replace("SCRAPER_STORAGE_URL", "the URL")) from exc


def _ensure_writable(target: Storage) -> None:
    try:
        target.check_writable()
    except StorageUnavailable as exc:
        raise OpsError(f"{exc} (fix: {exc.problem.fix})") from exc
    except OSError as exc:
        raise OpsError(f"cannot write to {target.url}: {exc}") from exc
