"""The `ops` command: thin click shells over the ops library functions.

Every command takes `--database-url` and `--json` and returns an `Outcome`; `ops_command`
adds the options and `emit` prints the result and decides the exit code in one place:
0 healthy / done, 1 problem found, 2 could not run.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click
from sqlalchemy import Engine

from ops.errors import OpsError
from scraper.config import Settings
from scraper.db import make_engine
from scraper.errors import ConfigError

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
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """An engine for `--database-url` (connect timeout 10 s on servers)."""
        if self._engine is None:
            extra: dict[str, Any] = {}
            if not self.database_url.startswith("sqlite"):
                extra["connect_args"] = {"connect_timeout": 10}
            self._engine = make_engine(self.database_url, **extra)
        return self._engine

    def close(self) -> None:
        """Dispose the engine if one was made."""
        if self._engine is not None:
            self._engine.dispose()


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
    name: str | None = None, **settings: Any
) -> Callable[[Callable[..., Outcome]], click.Command]:
    """Register a command on `main` taking `--database-url`/`--json`; it returns an Outcome."""

    def decorate(func: Callable[..., Outcome]) -> click.Command:
        @functools.wraps(func)
        def run(database_url: str | None, as_json: bool, **kwargs: Any) -> None:
            try:
                url = database_url or Settings.from_env().database_url
            except ConfigError as exc:
                fail(exc, as_json)
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
        return main.command(name, **settings)(run)

    return decorate


@click.group()
def main() -> None:
    """Ops toolkit for the scraper: schema checks and repair, tracing, diagnosis."""


@ops_command("check-schema")
@click.option("--models", default=None, metavar="MODULE:ATTR", help="MetaData or declarative base.")
def check_schema_command(opts: Options, models: str | None) -> Outcome:
    """Compare the ORM models with the live schema; exit 1 on drift, 2 if it cannot run."""
    from ops.schema import check_schema, load_metadata, safe_url
    from ops.schema.text import render_report

    metadata = load_metadata(models) if models else None
    report = check_schema(opts.engine(), metadata)
    text = render_report(report, safe_url(opts.engine()))
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)


@ops_command("init-db")
def init_db_command(opts: Options) -> Outcome:
    """Create every missing table and record the migration head (idempotent)."""
    from ops.schema import init_db
    from ops.schema.text import render_init

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
    from ops.schema import migrate
    from ops.schema.text import render_migrate

    report = migrate(opts.engine(), dry_run=dry_run, sql=sql, allow_destructive=allow_destructive)
    text = render_migrate(report)
    if sql:
        refused = [f"-- refused: {r.table} {r.kind}: {r.reason}" for r in report.refused]
        text = "\n".join([report.sql or "-- nothing to do", *refused])
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)


if __name__ == "__main__":  # pragma: no cover
    main()
