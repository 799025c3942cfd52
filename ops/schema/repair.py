"""init_db, migrate and auto_heal: bring the database to the models without losing data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, Engine, MetaData, inspect

from ops.errors import ConstraintViolated, MigrationFailed, NotOnline
from ops.schema.apply import Applier, has_rows, order_key
from ops.schema.backup import backup_sqlite
from ops.schema.blocking import Operation, assess
from ops.schema.check import check_connection, connect
from ops.schema.difference import Difference, Repair
from ops.schema.execute import Runner, upgrade_with_retries
from ops.schema.hidden import hidden_tables
from ops.schema.lock import schema_lock
from ops.schema.online import LARGE_TABLE_ROWS, server_of
from ops.schema.reports import InitReport, MigrateReport, Refusal
from ops.schema.scripts import Migrations, recorded_revision

log = logging.getLogger("ops.schema")


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in alembic_version, or None."""
    return recorded_revision(conn)


def _refusal(diff: Difference) -> Refusal:
    remedy = "--allow-destructive" if diff.repair is Repair.DESTRUCTIVE else "manual step"
    return Refusal(diff.table, diff.column, diff.kind, diff.why or diff.kind, remedy)


def plan(
    differences: list[Difference], metadata: MetaData, allow_destructive: bool
) -> tuple[list[Difference], list[Refusal]]:
    """Split differences into those migrate applies (in order) and those it refuses."""
    allowed = {Repair.SAFE} | ({Repair.DESTRUCTIVE} if allow_destructive else set())
    todo = [d for d in differences if d.repair in allowed and d.operations]
    refused = [_refusal(d) for d in differences if d not in todo]
    return sorted(todo, key=lambda d: order_key(d, metadata)), refused


def plan_online(
    conn: Connection, metadata: MetaData, destructive: bool, blocking: bool
) -> tuple[list[Operation], list[Refusal]]:
    """Plan, then hold back each repair that would block writes on a large table (unless
    `blocking`): the operations to run in order, and every refusal with its reason."""
    todo, refused = plan(check_connection(conn, metadata).differences, metadata, destructive)
    operations = assess(conn, server_of(conn, metadata), todo)
    for operation in operations:
        if operation.blocking and not blocking:
            diff = operation.diff
            reason = operation.reason()
            refused.append(Refusal(diff.table, diff.column, diff.kind, reason, "--allow-blocking"))
    return operations, refused


def _without_unfillable(conn: Connection, diff: Difference, refused: list[Refusal]) -> Difference:
    """Keep a NOT NULL column nullable when rows exist and the models give no value to fill."""
    if diff.kind != "missing_column" or len(diff.operations) != 2 or not has_rows(conn, diff.table):
        return diff
    refused.append(
        Refusal(
            diff.table,
            diff.column,
            "nullability_mismatch",
            "added as NULL: the models have no default to fill existing rows",
            "fill the column, then run `ops migrate --allow-destructive`",
        )
    )
    diff.operations = diff.operations[:1]
    return diff


def _upgrade(
    conn: Connection, report: MigrateReport, metadata: MetaData, migrations: Migrations
) -> None:
    """Run the Alembic migrations; an unversioned database with tables is repaired, then stamped."""
    current = current_revision(conn)
    if current == migrations.head():
        return
    existing = set(inspect(conn).get_table_names())
    if current is None and existing & set(metadata.tables):
        return
    command.upgrade(migrations.config(conn), "head")
    report.upgraded = True


@dataclass
class Options:
    """What migrate may do beyond additive, online repair."""

    destructive: bool = False
    blocking: bool = False


def _repair(
    conn: Connection,
    applier: Applier,
    migrations: Migrations,
    report: MigrateReport,
    options: Options,
) -> None:
    """SQLite: upgrade, repair and stamp in the caller's one exclusive transaction."""
    metadata = applier.metadata
    _upgrade(conn, report, metadata, migrations)
    operations, report.refused = plan_online(conn, metadata, options.destructive, options.blocking)
    for operation in operations:
        if operation.blocking and not options.blocking:
            continue
        applier.label = _label(operation.diff)
        diff = _without_unfillable(conn, operation.diff, report.refused)
        log.info("schema repair: %s", applier.label)
        applier.run(diff.operations)
        report.applied.append(diff)
    _stamp(conn, migrations, report, applier)


def _stamp(
    conn: Connection, migrations: Migrations, report: MigrateReport, applier: Applier
) -> None:
    if current_revision(conn) != migrations.head():
        applier.label = "stamp head"
        command.stamp(migrations.config(conn), "head")
        report.stamped = migrations.head()


def _repair_online(
    conn: Connection,
    applier: Applier,
    report: MigrateReport,
    options: Options,
) -> None:
    """PostgreSQL, MariaDB/MySQL: each online statement on its own, with a short lock wait."""
    metadata = applier.metadata
    operations, report.refused = plan_online(conn, metadata, options.destructive, options.blocking)
    conn.commit()  # the planning's read transaction: no lock may outlive it
    runner = Runner(conn.execution_options(isolation_level="AUTOCOMMIT"))
    for operation in operations:
        if operation.blocking and not options.blocking:
            continue
        applier.label = _label(operation.diff)
        planned = len(operation.diff.operations)
        diff = _without_unfillable(conn, operation.diff, report.refused)
        if len(diff.operations) != planned:
            operation = assess(conn, server_of(conn, metadata), [diff])[0]
        log.info("schema repair: %s (%s)", applier.label, operation.lock)
        try:
            for step in operation.steps:
                # a server that refuses the online algorithm may copy a small table only
                small = operation.rows <= LARGE_TABLE_ROWS
                runner.run(step, blocking_ok=options.blocking or small)
        except NotOnline as exc:
            report.refused.append(
                Refusal(diff.table, diff.column, diff.kind, exc.reason, "--allow-blocking")
            )
            continue
        report.applied.append(diff)


def _dry_run(
    conn: Connection,
    metadata: MetaData,
    migrations: Migrations,
    options: Options,
    report: MigrateReport,
) -> None:
    operations, report.refused = plan_online(conn, metadata, options.destructive, options.blocking)
    report.operations = operations
    todo = [o for o in operations if options.blocking or not o.blocking]
    report.applied = [o.diff for o in todo]
    if conn.dialect.name == "sqlite":
        report.sql = "\n".join(o.diff.fix for o in todo if o.diff.fix)
    else:
        report.sql = "\n".join(f"{s.sql};" for o in todo for s in o.steps)
    if current_revision(conn) != migrations.head():
        report.sql += f"\n-- then record revision {migrations.head()} in alembic_version"


def migrate(
    engine: Engine,
    metadata: MetaData,
    migrations: Migrations,
    dry_run: bool = False,
    sql: bool = False,
    allow_destructive: bool = False,
    backup_dir: Path | None = None,
    allow_blocking: bool = False,
) -> MigrateReport:
    """Upgrade to the Alembic head, then repair remaining drift; `sql`/`dry_run` change nothing.

    Changes are made under the database's schema lock, after checking the drift again: when
    several processes start against one drifted database, one repairs and the others find
    nothing left to do. A repair that would block writes on a large table runs only with
    `allow_blocking`; every other one runs online (see `ops.schema.online`).
    """
    report = MigrateReport(dialect=engine.dialect.name, dry_run=dry_run or sql)
    options = Options(allow_destructive, allow_blocking)
    if _nothing_to_do(engine, metadata, migrations, options, report):
        return report
    with schema_lock(engine):
        if _nothing_to_do(engine, metadata, migrations, options, report):
            return report  # another process repaired it while we waited for the lock
        report.applied, report.sql, report.operations = [], "", []
        backup = backup_sqlite(engine, backup_dir)
        report.backup_path = str(backup) if backup else None
        _run_guarded(engine, report, metadata, migrations, options)
    with connect(engine) as conn:
        report.remaining = check_connection(conn, metadata).differences
    listed = {(r.table, r.column, r.kind) for r in report.refused}
    report.refused += [
        _refusal(d) for d in report.remaining if (d.table, d.column, d.kind) not in listed
    ]
    return report


def _nothing_to_do(
    engine: Engine,
    metadata: MetaData,
    migrations: Migrations,
    options: Options,
    report: MigrateReport,
) -> bool:
    """Plan the repair; True (with `remaining` filled) when there is nothing to apply."""
    with connect(engine) as conn:
        _dry_run(conn, metadata, migrations, options, report)
        if report.dry_run or (not report.applied and current_revision(conn) == migrations.head()):
            report.remaining = check_connection(conn, metadata).differences
            return True
    return False


def _run_guarded(
    engine: Engine,
    report: MigrateReport,
    metadata: MetaData,
    migrations: Migrations,
    options: Options,
) -> None:
    """Apply; on failure roll back (SQLite) or keep what was added (PostgreSQL, MySQL).

    SQLite runs the whole repair in one `BEGIN EXCLUSIVE` transaction, so a failure rolls
    back atomically and the backup is never copied over the live file. PostgreSQL and MySQL
    run each online statement on its own (a concurrent index build cannot run in a
    transaction, and a transaction would hold every lock it took until the end): what was
    added stays, since other processes may already write to it.
    """
    if engine.dialect.name != "sqlite":
        _run_online(engine, report, metadata, migrations, options)
        return
    failure = None
    with connect(engine) as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no cascades during rebuilds
        conn.commit()
        applier = Applier(conn, metadata)
        try:
            with conn.begin():
                conn.exec_driver_sql("BEGIN EXCLUSIVE")  # DDL inside, not autocommitted
                _repair(conn, applier, migrations, report, options)
        except Exception as exc:
            failure = exc
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
    if failure is not None:
        _fail(applier, failure, [])


def _run_online(
    engine: Engine,
    report: MigrateReport,
    metadata: MetaData,
    migrations: Migrations,
    options: Options,
) -> None:
    """The Alembic migrations in one transaction, then each repair statement on its own."""
    with connect(engine) as conn:
        applier = Applier(conn, metadata)
        try:
            upgrade_with_retries(conn, lambda: _upgrade(conn, report, metadata, migrations))
            _repair_online(conn, applier, report, options)
            conn.commit()
            conn.execution_options(isolation_level=engine.dialect.default_isolation_level)
            with conn.begin():
                _stamp(conn, migrations, report, applier)
        except Exception as exc:
            _fail(applier, exc, [_label(d) for d in report.applied])


def _fail(applier: Applier, failure: Exception, kept: list[str]) -> None:
    cause = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
    if kept:
        log.error("schema repair failed at %s; kept in place: %s", applier.label, kept)
    if isinstance(failure, ConstraintViolated):  # the rows are the problem: named as such
        raise failure.at(applier.label, kept)
    raise MigrationFailed(applier.label, cause, not kept, kept) from failure


def _label(diff: Difference) -> str:
    return f"{diff.kind} {diff.table}.{diff.column or ''}".rstrip(".")


def init_db(engine: Engine, metadata: MetaData, migrations: Migrations) -> InitReport:
    """Create every missing table (Alembic upgrade on an empty database) and stamp the head."""
    report = InitReport(dialect=engine.dialect.name)
    with schema_lock(engine), connect(engine) as conn, conn.begin():
        missing = [
            d for d in check_connection(conn, metadata).differences if d.kind == "missing_table"
        ]
        if len(missing) == len(metadata.tables) and current_revision(conn) is None:
            command.upgrade(migrations.config(conn), "head")
            report.stamped = migrations.head()
        else:
            ordered = sorted(missing, key=lambda d: order_key(d, metadata))
            Applier(conn, metadata).run([op for d in ordered for op in d.operations])
        if current_revision(conn) != migrations.head():
            command.stamp(migrations.config(conn), "head")
            report.stamped = migrations.head()
        report.created = sorted(d.table for d in missing)
    return report


def auto_heal(engine: Engine, metadata: MetaData, migrations: Migrations) -> MigrateReport:
    """Additive, online-only repair (SCRAPER_AUTO_HEAL=safe); logs every change it makes.

    A repair that would block writes on a large table is never run here: it is refused, with
    the lock and the expected time, for a person to run with `ops migrate --allow-blocking`.
    """
    hidden = hidden_tables(engine, metadata.tables)
    if hidden:  # never build the tables anew beside the ones that hold the data
        report = MigrateReport(dialect=engine.dialect.name)
        report.refused = [
            Refusal(table, None, "hidden_table", f"exists in schema {schema}, which this "
                    "role cannot use or does not search", "a GRANT USAGE or the search_path")
            for table, schema in sorted((t, h.schema) for t, h in hidden.items())
        ]  # fmt: skip
        log.warning("auto-heal: nothing built, the tables exist out of sight: %s", hidden)
        return report
    report = migrate(engine, metadata, migrations, allow_destructive=False, allow_blocking=False)
    for diff in report.applied:
        log.warning("auto-heal applied %s on %s.%s", diff.kind, diff.table, diff.column or "")
    for refusal in report.refused:
        log.warning("auto-heal left %s on %s: %s", refusal.kind, refusal.table, refusal.reason)
    if report.backup_path:
        log.warning("auto-heal backed up the database to %s", report.backup_path)
    return report
