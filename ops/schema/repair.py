"""init_db, migrate and auto_heal: bring the database to the models without losing data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, inspect

from ops.errors import MigrationFailed
from ops.schema.apply import Applier, has_rows, order_key
from ops.schema.backup import backup_sqlite, restore_sqlite
from ops.schema.check import check_connection, connect
from ops.schema.difference import Difference, Repair
from ops.schema.scripts import Migrations

log = logging.getLogger("ops.schema")


@dataclass
class Refusal:
    """A change migrate did not make, why, and what would make it."""

    table: str
    column: str | None
    kind: str
    reason: str
    remedy: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(vars(self))


@dataclass
class MigrateReport:
    """What migrate did (or, with dry_run/sql, would do)."""

    dialect: str
    dry_run: bool = False
    applied: list[Difference] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    upgraded: bool = False
    stamped: str | None = None
    backup_path: str | None = None
    sql: str = ""
    remaining: list[Difference] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.remaining

    def to_json(self) -> dict[str, Any]:
        """JSON form: applied and remaining differences, refusals, backup path, SQL."""
        return {
            "dialect": self.dialect,
            "dry_run": self.dry_run,
            "in_sync": self.in_sync,
            "upgraded": self.upgraded,
            "stamped": self.stamped,
            "backup_path": self.backup_path,
            "applied": [d.to_dict() for d in self.applied],
            "refused": [r.to_dict() for r in self.refused],
            "remaining": [d.to_dict() for d in self.remaining],
            "sql": self.sql,
        }


@dataclass
class InitReport:
    """What init_db created; `created` is empty when the database was already complete."""

    dialect: str
    created: list[str] = field(default_factory=list)
    stamped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"dialect": self.dialect, "created": self.created, "stamped": self.stamped}


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in alembic_version, or None."""
    return MigrationContext.configure(conn).get_current_revision()


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


def _repair(
    conn: Connection,
    applier: Applier,
    migrations: Migrations,
    report: MigrateReport,
    destructive: bool,
) -> None:
    metadata = applier.metadata
    _upgrade(conn, report, metadata, migrations)
    todo, report.refused = plan(check_connection(conn, metadata).differences, metadata, destructive)
    for diff in todo:
        applier.label = f"{diff.kind} {diff.table}.{diff.column or ''}".rstrip(".")
        diff = _without_unfillable(conn, diff, report.refused)
        log.info("schema repair: %s", applier.label)
        applier.run(diff.operations)
        report.applied.append(diff)
    if current_revision(conn) != migrations.head():
        applier.label = "stamp head"
        command.stamp(migrations.config(conn), "head")
        report.stamped = migrations.head()


def _dry_run(
    conn: Connection,
    metadata: MetaData,
    migrations: Migrations,
    destructive: bool,
    report: MigrateReport,
) -> None:
    todo, report.refused = plan(check_connection(conn, metadata).differences, metadata, destructive)
    report.applied = todo
    report.sql = "\n".join(d.fix for d in todo if d.fix)
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
) -> MigrateReport:
    """Upgrade to the Alembic head, then repair remaining drift; `sql`/`dry_run` change nothing."""
    report = MigrateReport(dialect=engine.dialect.name, dry_run=dry_run or sql)
    with connect(engine) as conn:
        _dry_run(conn, metadata, migrations, allow_destructive, report)
        if report.dry_run or (not report.applied and current_revision(conn) == migrations.head()):
            report.remaining = check_connection(conn, metadata).differences
            return report
    report.applied, report.sql = [], ""
    backup = backup_sqlite(engine, backup_dir)
    report.backup_path = str(backup) if backup else None
    _run_guarded(engine, report, metadata, migrations, allow_destructive, backup)
    with connect(engine) as conn:
        report.remaining = check_connection(conn, metadata).differences
    listed = {(r.table, r.column, r.kind) for r in report.refused}
    report.refused += [
        _refusal(d) for d in report.remaining if (d.table, d.column, d.kind) not in listed
    ]
    return report


def _run_guarded(
    engine: Engine,
    report: MigrateReport,
    metadata: MetaData,
    migrations: Migrations,
    destructive: bool,
    backup: Path | None,
) -> None:
    """Apply in one transaction; on failure roll back, undo (MySQL) or restore the backup."""
    sqlite, failure, undone = engine.dialect.name == "sqlite", None, False
    with connect(engine) as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no cascades during rebuilds
            conn.commit()
        applier = Applier(conn, metadata)
        try:
            with conn.begin():
                _repair(conn, applier, migrations, report, destructive)
        except Exception as exc:
            failure = exc
            if engine.dialect.name == "mysql":  # DDL auto-commits there: reverse it
                with conn.begin():
                    undone = applier.undo()
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    if failure is None:
        return
    restored = undone or engine.dialect.name == "postgresql"
    if backup is not None:
        restore_sqlite(engine, backup)
        restored = True
    cause = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
    raise MigrationFailed(applier.label, cause, restored) from failure


def init_db(engine: Engine, metadata: MetaData, migrations: Migrations) -> InitReport:
    """Create every missing table (Alembic upgrade on an empty database) and stamp the head."""
    report = InitReport(dialect=engine.dialect.name)
    with connect(engine) as conn, conn.begin():
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
    """Additive-only repair for start-up (SCRAPER_AUTO_HEAL=safe); logs every change it makes."""
    report = migrate(engine, metadata, migrations, allow_destructive=False)
    for diff in report.applied:
        log.warning("auto-heal applied %s on %s.%s", diff.kind, diff.table, diff.column or "")
    for refusal in report.refused:
        log.warning("auto-heal left %s on %s: %s", refusal.kind, refusal.table, refusal.reason)
    if report.backup_path:
        log.warning("auto-heal backed up the database to %s", report.backup_path)
    return report
