"""`ops check-schema`, `ops init-db`, `ops migrate`: compare the models with the live schema
and bring the database to them."""

from __future__ import annotations

import gc

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, ops_command, require_database


@ops_command("check-schema")
@click.option(
    "--models",
    default="scraper.models:Base",
    show_default=True,
    metavar="MODULE:ATTR",
    help="The models to compare with: a SQLAlchemy MetaData or declarative base.",
)
def check_schema_command(opts: Options, models: str) -> Outcome:
    """Compare the ORM models with the live schema; exit 1 on drift, 2 if it cannot run
    (a database it cannot reach, a SQLite file that does not exist)."""
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema import check_schema, load_metadata, safe_url
    from ops.schema.text import render_report

    opts.readonly = True
    metadata = load_metadata(models)  # a bad --models is named before the database is
    require_database(opts.database_url)  # not created: a read-only command makes nothing
    # The modules and models live until exit: a full garbage collection during the check
    # would walk all of them (0.07-0.1 s of CPU on 300 tables, more than reflecting them).
    gc.freeze()
    report = check_schema(opts.engine(), metadata)
    text = render_report(report, safe_url(opts.database_url))  # as given, not the mode=ro form
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)


@ops_command("init-db")
def init_db_command(opts: Options) -> Outcome:
    """Create every missing table and record the migration head (idempotent)."""
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema.text import render_init
    from scraper.migrations.manage import init_db

    report = init_db(opts.engine())
    return Outcome(report.to_json(), render_init(report), OK)


@ops_command("migrate")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--sql", "sql", is_flag=True, help="Print the DDL instead of running it.")
@click.option("--allow-destructive", is_flag=True, help="Also drop and narrow (loses data).")
@click.option(
    "--allow-blocking", is_flag=True, help="Also run repairs that block writes on a large table."
)
def migrate_command(
    opts: Options, dry_run: bool, sql: bool, allow_destructive: bool, allow_blocking: bool
) -> Outcome:
    """Bring the database to the models: Alembic upgrade, then additive repair.

    Never drops or narrows without --allow-destructive; backs up a SQLite file first.
    Repairs run online; one that would block writes on a large table needs --allow-blocking
    (--dry-run lists each operation with its lock and whether it runs online).
    Exit 0 when the schema ends in sync, 1 when differences remain (or would, with --dry-run);
    --dry-run and --sql refuse a SQLite file that does not exist (exit 2) rather than make it.
    """
    # heavy imports (SQLAlchemy, Alembic, the models) load only when this command runs
    from ops.schema.execute import catch_interrupts
    from ops.schema.text import render_migrate
    from scraper.migrations.manage import migrate

    catch_interrupts()
    if dry_run or sql:
        require_database(opts.database_url)
    report = migrate(opts.engine(), dry_run, sql, allow_destructive, allow_blocking=allow_blocking)
    text = render_migrate(report)
    if sql:
        refused = [f"-- refused: {r.table} {r.kind}: {r.reason}" for r in report.refused]
        text = "\n".join([report.sql or "-- nothing to do", *refused])
    return Outcome(report.to_json(), text, OK if report.in_sync else PROBLEM)
