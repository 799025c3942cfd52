"""`ops storage migrate` and `ops storage create-bucket`: where downloaded files live."""

from __future__ import annotations

import sys

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, main, ops_command, runtime_for
from ops.errors import OpsError
from scraper.storage import StorageUnavailable


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
    from ops.storage import ensure_writable, migrate, same_place, store_at

    runtime = runtime_for(opts)
    source, target = store_at(runtime, from_url), store_at(runtime, to_url)
    if same_place(source, target):
        raise OpsError(f"source and target are the same store: {target.url}")
    if not dry_run:
        ensure_writable(target)
    keys = list(source.keys())
    with click.progressbar(length=len(keys), label="copying", file=sys.stderr) as bar:
        report = migrate(source, target, dry_run, lambda _copy: bar.update(1), keys)
    return Outcome(report.to_json(), report.text(), OK if report.ok else PROBLEM)


@ops_command("create-bucket", group=storage_group)
@click.option("--url", default=None, help="s3://BUCKET/PREFIX (default: SCRAPER_STORAGE_URL).")
def storage_create_bucket_command(opts: Options, url: str | None) -> Outcome:
    """Create the bucket of SCRAPER_STORAGE_URL (or --url); exit 0 if it already exists."""
    from ops.storage import store_at
    from scraper.storage.s3 import S3Store  # boto3 is a heavy import: only this command needs it

    files = store_at(runtime_for(opts), url)
    if not isinstance(files, S3Store):
        raise OpsError(f"SCRAPER_STORAGE_URL is not an s3:// URL (files live in {files.url})")
    try:
        created = files.create_bucket()
    except StorageUnavailable as exc:
        return Outcome({"error": exc.problem.kind, "fix": exc.problem.fix}, str(exc), PROBLEM)
    text = f"created bucket {files.bucket}" if created else f"bucket {files.bucket} exists"
    return Outcome({"bucket": files.bucket, "created": created}, text)
