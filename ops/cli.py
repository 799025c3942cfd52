"""The `ops` command: thin click shells over the ops library functions.

Every command takes `--database-url` and `--json` and returns an `Outcome`; `ops_command`
adds the options and `emit` prints the result and decides the exit code in one place:
0 healthy / done, 1 problem found, 2 could not run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy import Engine

from ops.errors import OpsError
from ops.prune import prune_command
from scraper.config import DEFAULT_DATABASE_URL
from scraper.db import make_engine, make_readonly_engine, sqlite_file, sqlite_left_as_found
from scraper.errors import ConfigError
from scraper.storage import Storage, StorageUnavailable, open_store

if TYPE_CHECKING:
    from scraper.runtime import Runtime

OK, PROBLEM, CANNOT_RUN = 0, 1, 2


@dataclass
class Outcome:
    """What a command produced: one JSON document, its text form and the exit code."""

    payload: dict[str, Any]
    text: str
    code: int = OK


@dataclass
class Options:
    """The options every command shares; `engine()` connects lazily."""

    database_url: str
    as_json: bool
    readonly: bool = False  # set before the first engine(): SQLite opened mode=ro, nothing made
    _engine: Engine | None = field(default=None, repr=False)
    _tidy: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def engine(self) -> Engine:
        """An engine for `--database-url` (connect timeout 10 s on servers)."""
        if self._engine is None:
            extra: dict[str, Any] = {}
            if not self.database_url.startswith("sqlite"):
                extra["connect_args"] = {"connect_timeout": 10}
            if self.readonly:
                self._tidy.enter_context(sqlite_left_as_found(self.database_url))
                self._engine = make_readonly_engine(self.database_url, **extra)
            else:
                self._engine = make_engine(self.database_url, **extra)
        return self._engine

    def close(self) -> None:
        """Dispose the engine if one was made; a read-only one leaves the files as found."""
        if self._engine is not None:
            self._engine.dispose()
        self._tidy.close()


def emit(outcome: Outcome, as_json: bool) -> NoReturn:
    """Print the outcome as text or JSON and exit with its code."""
    if as_json:
        click.echo(json.dumps(outcome.payload, indent=2, default=str))
    else:
        click.echo(outcome.text)
    sys.exit(outcome.code)


def fail(error: Exception, as_json: bool) -> NoReturn:
    """Report a could-not-run error in one line and exit 2."""
    code = type(error).__name__
    message = str(error).strip().splitlines()[0] if str(error).strip() else code
    if as_json:
        click.echo(json.dumps({"error": code, "message": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(CANNOT_RUN)


def ops_command(
    name: str | None = None, group: click.Group | None = None, **settings: Any
) -> Callable[[Callable[..., Outcome]], click.Command]:
    """Register a command on `main` (or `group`) taking `--database-url`/`--json`; it returns
    an Outcome."""

    def decorate(func: Callable[..., Outcome]) -> click.Command:
        @functools.wraps(func)
        def run(database_url: str | None, as_json: bool, **kwargs: Any) -> None:
            # Only the URL is read here: a malformed other setting is `ops doctor`'s finding.
            url = database_url or os.environ.get("SCRAPER_DATABASE_URL") or DEFAULT_DATABASE_URL
            opts = Options(url, as_json)
            try:
                outcome = func(opts, **kwargs)
            except OpsError as exc:
                fail(exc, as_json)
            finally:
                opts.close()
            emit(outcome, as_json)

        run = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")(
            run
        )
        run = click.option(
            "--database-url",
            default=None,
            help="Database URL (default: SCRAPER_DATABASE_URL or sqlite:///data/scraper.db).",
        )(run)
        return (group or main).command(name, **settings)(run)

    return decorate


@click.group()
def main() -> None:
    """Ops toolkit for the scraper: schema checks and repair, tracing, diagnosis."""


main.add_command(prune_command)


@ops_command("check-schema")
@click.option(
    "--models",
    default="scraper.models:Base",
    show_default=True,
    metavar="MODULE:ATTR",
    help="MetaData or declarative base.",
)
def check_schema_command(opts: Options, models: str) -> Outcome:
    """Compare the ORM models with the live schema; exit 1 on drift, 2 if it cannot run."""
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema import check_schema, load_metadata, safe_url
    from ops.schema.text import render_report

    opts.readonly = True
    if sqlite_missing(opts.database_url):
        # A SQLite file that does not exist reads as an empty database; it is not created.
        empty = make_engine("sqlite://")
        try:
            report = check_schema(empty, load_metadata(models))
        finally:
            empty.dispose()
    else:
        report = check_schema(opts.engine(), load_metadata(models))
    text = render_report(report, safe_url(opts.database_url))  # as given, not the mode=ro form
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)


@ops_command("init-db")
def init_db_command(opts: Options) -> Outcome:
    """Create every missing table and record the migration head (idempotent)."""
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema.text import render_init
    from scraper.schema import init_db

    report = init_db(opts.engine())
    return Outcome(report.to_json(), render_init(report), OK)


@ops_command("migrate")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--sql", "sql", is_flag=True, help="Print the DDL instead of running it.")
@click.option("--allow-destructive", is_flag=True, help="Also drop and narrow (loses data).")
def migrate_command(opts: Options, dry_run: bool, sql: bool, allow_destructive: bool) -> Outcome:
    """Bring the database to the models: Alembic upgrade, then additive repair.

    Never drops or narrows without --allow-destructive; backs up a SQLite file first.
    Exit 0 when the schema ends in sync, 1 when differences remain (or would, with --dry-run).
    """
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema.text import render_migrate
    from scraper.schema import migrate

    report = migrate(opts.engine(), dry_run=dry_run, sql=sql, allow_destructive=allow_destructive)
    text = render_migrate(report)
    if sql:
        refused = [f"-- refused: {r.table} {r.kind}: {r.reason}" for r in report.refused]
        text = "\n".join([report.sql or "-- nothing to do", *refused])
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)


# -- issue 6: jobs, reconcile, doctor, trace, smoke ---------------------------------------


class JobStatusChoice(click.Choice):
    """`click.Choice` over scraper.models.JobStatus, read when `--status` is used or shown.

    Importing scraper.models pulls in SQLAlchemy's ORM and dialect modules (about half a
    second): kept off the start-up of commands that never list jobs, like `check-schema`.
    """

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        from scraper.models import JobStatus  # heavy: see the class docstring

        return [status.value for status in JobStatus]

    @choices.setter
    def choices(self, value: object) -> None:
        """click sets the choices in __init__; they come from JobStatus instead."""


def _runtime(opts: Options) -> Runtime:
    """The service's runtime for `--database-url`, sharing the command's engine."""
    # heavy imports (the service's stores and models) load only when a command needs them
    from scraper.runtime import Runtime

    try:
        runtime = Runtime.from_env(database_url=opts.database_url)
    except ConfigError as exc:
        raise OpsError(str(exc)) from exc
    try:
        runtime.engine = opts.engine()
    except Exception:  # e.g. a SQLite path that cannot exist: the checks report it
        pass
    return runtime


@ops_command("jobs")
@click.option("--status", type=JobStatusChoice(), default=None, help="Only this status.")
@click.option("--storage", type=click.Choice(["database", "fallback"]), default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
def jobs_command(opts: Options, status: str | None, storage: str | None, limit: int) -> Outcome:
    """List jobs from the database and the fallback store together, each with its storage."""
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.jobs import jobs_json, jobs_table, list_jobs

    opts.readonly = True
    page = list_jobs(_runtime(opts), status, storage, limit)
    problem = page.database_error or page.missing_columns
    return Outcome(jobs_json(page), jobs_table(page), PROBLEM if problem else OK)


@ops_command("reconcile")
def reconcile_command(opts: Options) -> Outcome:
    """Move fallback jobs into the database and say how many (a second run moves none)."""
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.jobs import reconcile_jobs

    summary = reconcile_jobs(_runtime(opts))
    return Outcome(summary.to_json(), summary.text(), OK if summary.ok else PROBLEM)


@ops_command("doctor")
@click.option("--heal", "apply_heal", is_flag=True, help="Apply the safe fixes, then re-check.")
def doctor_command(opts: Options, apply_heal: bool) -> Outcome:
    """Run every check, name the root cause with evidence and the fix; exit 1 on any problem.

    --heal applies the safe fixes (additive migrate, reconcile, requeue expired leases,
    create a missing data dir) and reports before and after.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.doctor import diagnose, diagnose_config_error, heal
    from ops.doctor.render import render_diagnosis, render_heal

    opts.readonly = not apply_heal or sqlite_missing(opts.database_url)
    try:
        runtime = _runtime(opts)
    except OpsError as exc:
        found = diagnose_config_error(str(exc))
        return Outcome(found.to_json(), render_diagnosis(found), PROBLEM)
    if apply_heal:
        report = heal(runtime)
        code = PROBLEM if report.after.problem else OK
        return Outcome(report.to_json(), render_heal(report), code)
    diagnosis = diagnose(runtime)
    return Outcome(
        diagnosis.to_json(), render_diagnosis(diagnosis), PROBLEM if diagnosis.problem else OK
    )


def sqlite_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist: even --heal must not create it (a 2nd database)."""
    path = sqlite_file(url)
    return path is not None and not path.exists()


@ops_command("trace")
@click.option("--url", default=None, help="Base URL of a running service (default: in-process).")
@click.option("--token", envvar="SCRAPER_API_TOKEN", default=None, help="API token (Bearer).")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True)
def trace_command(opts: Options, url: str | None, token: str | None, timeout: float) -> Outcome:
    """Submit a selftest job and follow it hop by hop; name the first broken hop (exit 1).

    The database and data-dir hops read --database-url and SCRAPER_DATA_DIR: point them at
    the service's own. Without --url an in-process app and worker serve the trace.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.trace import render_text, trace, trace_url

    runtime = _runtime(opts)
    report = trace_url(url, token, runtime, timeout) if url else trace(runtime, token, timeout)
    return Outcome(report.to_json(), render_text(report), OK if report.ok else PROBLEM)


@ops_command("smoke")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the temporary directory for inspection.")
def smoke_command(opts: Options, timeout: float, keep: bool) -> Outcome:
    """Start the stack from nothing (temporary database), trace a job through it, tear it down.

    --database-url is ignored: the smoke test always builds its own SQLite database.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.smoke import render_text, smoke

    report = smoke(timeout, keep)
    return Outcome(report.to_json(), render_text(report), OK if report.ok else PROBLEM)


if __name__ == "__main__":  # pragma: no cover
    main()


# -- issue 18: storage -------------------------------------------------------------------------


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

    runtime = _runtime(opts)
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

    files = _store(_runtime(opts), url)
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
