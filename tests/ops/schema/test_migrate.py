"""migrate: additive drift repaired on every dialect, data kept, destructive changes refused,
and a migration that fails half-way leaves the database as it was."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ops.errors import MigrationFailed
from ops.schema import Severity
from scraper.db import make_engine
from scraper.migrations import alembic_config
from scraper.migrations.manage import auto_heal, check_schema, head_revision, migrate
from scraper.models import ApiToken, Asset, Role, ScrapeJob, User, UserRole, WorkerHeartbeat
from tests.ops.schema.test_check_schema import SCENARIOS, drop_table, engine, plant

__all__ = ["engine"]  # the fixture, re-exported for this module

ADDITIVE = {
    "seed_missing_updated_at",
    "narrower_type",
    "not_null_where_models_allow_null",
    "missing_index",
    "missing_unique_constraint",
    "missing_foreign_key",
    "different_default",
    "missing_check_constraint",
}
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TABLES = [
    "users",
    "roles",
    "user_roles",
    "api_tokens",
    "scrape_jobs",
    "assets",
    "worker_heartbeats",
]


def populate(engine: Engine) -> None:
    """One row or more in every table, with children that cascade from their parents."""
    with Session(engine) as s, s.begin():
        s.add_all(
            [
                User(id=1, username="ann", password_hash="x", created_at=NOW),
                Role(id=1, name="admin"),
            ]
        )
        s.flush()
        s.add(UserRole(user_id=1, role_id=1))
        s.add(ApiToken(id=1, user_id=1, name="t", token_hash="h" * 64, prefix="p", created_at=NOW))
        for i in range(3):
            s.add(
                ScrapeJob(
                    id=f"job-{i}",
                    user_id=1,
                    query=f"q{i}",
                    max_content=5,
                    enabled_sources=["selftest"],
                    message="m",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        s.flush()
        for i in range(3):
            s.add(
                Asset(
                    id=i + 1,
                    job_id=f"job-{i}",
                    source="selftest",
                    url=f"http://x/{i}",
                    path=f"p{i}",
                    filename=f"f{i}",
                    sha256=str(i) * 64,
                    size_bytes=10,
                    content_type="image/png",
                    created_at=NOW,
                )
            )
        s.add(WorkerHeartbeat(id="w1", hostname="h", pid=1, started_at=NOW, last_seen_at=NOW))


def snapshot(
    engine: Engine, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[tuple]]:
    """Every row of every table (columns in `skip` left out), in primary-key order."""
    result = {}
    with engine.connect() as conn:
        live = sa.MetaData()
        live.reflect(conn)
        for name in TABLES:
            table = live.tables[name]
            cols = [c for c in table.c if c.name not in skip]
            rows = conn.execute(sa.select(*cols).order_by(*table.primary_key.columns)).all()
            result[name] = [tuple(str(v) for v in row) for row in rows]
    return result


def scenario(name: str) -> tuple[str, Callable[..., None]]:
    found = next(s for s in SCENARIOS if s[0] == name)
    return found[1], found[2]


@pytest.mark.parametrize("name", sorted(ADDITIVE))
@pytest.mark.slow
def test_migrate_repairs_additive_drift_and_keeps_every_row(engine: Engine, name: str) -> None:
    populate(engine)
    table, change = scenario(name)
    plant(engine, table, change)
    before = snapshot(engine, skip={"updated_at", "status", "message", "locked_by"})
    report = migrate(engine)
    assert report.in_sync, report.to_json()
    assert report.applied and not report.refused
    assert check_schema(engine).in_sync
    assert snapshot(engine, skip={"updated_at", "status", "message", "locked_by"}) == before


@pytest.mark.slow
def test_a_check_with_another_rule_is_recreated_only_with_allow_destructive(
    engine: Engine,
) -> None:
    populate(engine)
    plant(engine, "scrape_jobs", scenario("check_constraint_mismatch")[1])
    [diff] = check_schema(engine).differences
    assert diff.kind == "check_constraint_mismatch" and "1000" in str(diff.actual)
    refused = migrate(engine)
    assert [r.kind for r in refused.refused] == ["check_constraint_mismatch"]
    assert migrate(engine, allow_destructive=True).in_sync, "re-created with the model's rule"
    assert check_schema(engine).in_sync


@pytest.mark.slow
def test_an_unexpected_check_is_dropped_by_its_live_name_with_allow_destructive(
    engine: Engine,
) -> None:
    """The live name is used as it is (not run through the models' naming convention)."""
    plant(engine, "scrape_jobs", lambda b: b.create_check_constraint("extra_rule", "progress < 99"))
    [diff] = check_schema(engine).differences
    assert diff.kind == "unexpected_check_constraint"
    assert migrate(engine, allow_destructive=True).in_sync


@pytest.mark.slow
def test_seed_incident_missing_updated_at_is_repaired_and_data_survives(engine: Engine) -> None:
    populate(engine)
    plant(engine, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    before = snapshot(engine, skip={"updated_at"})
    [diff] = check_schema(engine).differences
    assert (diff.kind, diff.severity) == ("missing_column", Severity.CRITICAL)
    report = migrate(engine)
    assert [d.kind for d in report.applied] == ["missing_column"]
    assert check_schema(engine).in_sync
    assert snapshot(engine, skip={"updated_at"}) == before
    with engine.connect() as conn:
        nulls = conn.execute(text("SELECT COUNT(*) FROM scrape_jobs WHERE updated_at IS NULL"))
        assert nulls.scalar_one() == 0
    with Session(engine) as s, s.begin():  # the application can write again
        s.add(ScrapeJob(id="new", query="q", max_content=1, enabled_sources=[]))


@pytest.mark.slow
def test_missing_table_is_created(engine: Engine) -> None:
    populate(engine)
    drop_table(engine, "worker_heartbeats")
    report = migrate(engine)
    assert report.in_sync
    assert [d.table for d in report.applied] == ["worker_heartbeats"]


@pytest.mark.slow
def test_unexpected_not_null_column_is_relaxed_not_dropped(engine: Engine) -> None:
    table, change = scenario("unexpected_not_null_without_default")
    plant(engine, table, change)
    report = migrate(engine)
    [remaining] = report.remaining
    assert (remaining.kind, remaining.severity) == ("unexpected_column", Severity.INFO)
    assert [r.remedy for r in report.refused] == ["--allow-destructive"]
    with Session(engine) as s, s.begin():  # inserts from the models work again
        s.add(ScrapeJob(id="new", query="q", max_content=1, enabled_sources=[]))


@pytest.mark.parametrize(
    "name", ["unexpected_nullable_column", "incompatible_type", "renamed_column"]
)
@pytest.mark.slow
def test_destructive_changes_are_refused_then_applied_with_the_flag(
    engine: Engine, name: str
) -> None:
    populate(engine)
    table, change = scenario(name)
    plant(engine, table, change)
    before = check_schema(engine).differences
    report = migrate(engine)
    assert report.refused and not report.applied
    assert all(r.remedy == "--allow-destructive" and r.reason for r in report.refused)
    assert [d.kind for d in check_schema(engine).differences] == [d.kind for d in before]
    if name != "incompatible_type":
        assert migrate(engine, allow_destructive=True).in_sync


@pytest.mark.slow
def test_rename_with_flag_keeps_the_values(engine: Engine) -> None:
    populate(engine)
    plant(
        engine,
        "scrape_jobs",
        lambda b: b.alter_column("message", new_column_name="msg", existing_type=sa.String(500)),
    )
    assert migrate(engine, allow_destructive=True).in_sync
    with engine.connect() as conn:
        assert conn.execute(text("SELECT message FROM scrape_jobs")).scalars().all() == ["m"] * 3


@pytest.mark.slow
def test_not_null_column_added_to_populated_table_is_backfilled(engine: Engine) -> None:
    populate(engine)
    plant(engine, "worker_heartbeats", lambda b: b.drop_column("state"))
    # The column's index goes with it (SQLite's batch rebuild would not drop it by itself).
    plant(engine, "assets", lambda b: b.drop_index("ix_assets_created_at_size_bytes"))
    plant(engine, "assets", lambda b: b.drop_column("created_at"))
    report = migrate(engine)
    assert report.in_sync
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM assets WHERE created_at IS NULL")).scalar() == 0
        )
        assert conn.execute(text("SELECT state FROM worker_heartbeats")).scalar() == "running"


def test_not_null_column_without_model_default_stays_nullable_and_is_listed(engine: Engine) -> None:
    populate(engine)
    plant(engine, "assets", lambda b: b.drop_column("filename"))
    report = migrate(engine)
    assert [(r.column, r.kind) for r in report.refused] == [("filename", "nullability_mismatch")]
    [remaining] = report.remaining
    assert remaining.kind == "nullability_mismatch"


@pytest.mark.slow
def test_dry_run_and_sql_change_nothing(engine: Engine) -> None:
    plant(engine, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    for dry_run, sql in ((True, False), (False, True)):
        report = migrate(engine, dry_run=dry_run, sql=sql)
        assert report.dry_run and "updated_at" in report.sql
        assert [d.column for d in report.applied] == ["updated_at"]
    assert [d.column for d in check_schema(engine).differences] == ["updated_at"]


@pytest.mark.slow
def test_failed_migration_leaves_database_unchanged(engine: Engine) -> None:
    populate(engine)
    plant(engine, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    plant(engine, "assets", lambda b: b.drop_constraint("uq_assets_job_id_sha256", type_="unique"))
    with engine.begin() as conn:  # a duplicate makes the unique constraint fail half-way
        conn.execute(text("UPDATE assets SET job_id = 'job-0', sha256 = :s"), {"s": "0" * 64})
    before_diffs = check_schema(engine).differences
    snapshot_before = snapshot(engine, skip={"updated_at"})
    with pytest.raises(MigrationFailed) as failed:
        migrate(engine)
    assert "unique" in failed.value.step
    assert snapshot(engine, skip={"updated_at"}) == snapshot_before
    after = [d.kind for d in check_schema(engine).differences]
    if engine.dialect.name != "sqlite":
        # Online repair commits each statement (PostgreSQL builds the index concurrently,
        # outside a transaction; MySQL commits DDL): the added column stays (peers may write
        # to it), the failed unique index is dropped, and both are reported.
        assert not failed.value.restored
        assert failed.value.kept == ["missing_column scrape_jobs.updated_at"]
        assert after == [d.kind for d in before_diffs if d.kind != "missing_column"]
    else:
        assert failed.value.restored and not failed.value.kept
        assert after == [d.kind for d in before_diffs]


def test_sqlite_file_is_backed_up_before_a_change(sqlite_url: str, tmp_path: Path) -> None:
    eng = make_engine(sqlite_url)
    migrate(eng)
    plant(eng, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    report = migrate(eng, backup_dir=tmp_path / "backups")
    assert report.backup_path and Path(report.backup_path).is_file()
    assert Path(report.backup_path).parent == tmp_path / "backups"
    backup = make_engine(f"sqlite:///{report.backup_path}")
    assert [d.column for d in check_schema(backup).differences] == ["updated_at"]
    backup.dispose()
    eng.dispose()


@pytest.mark.slow
def test_migrate_on_empty_database_creates_everything_and_stamps(db_url: str) -> None:
    eng = make_engine(db_url)
    report = migrate(eng)
    assert report.in_sync and report.upgraded
    with eng.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
    eng.dispose()


@pytest.mark.slow
def test_auto_heal_creates_tables_stamps_head_and_logs(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    eng = make_engine(db_url)
    with caplog.at_level(logging.INFO, logger="ops.schema"):
        report = auto_heal(eng)
        assert report.in_sync
        plant(eng, "scrape_jobs", lambda b: b.drop_column("updated_at"))
        healed = auto_heal(eng)
    assert healed.in_sync
    assert "missing_column on scrape_jobs.updated_at" in caplog.text
    eng.dispose()


def test_sqlite_table_rebuild_runs_with_foreign_keys_off_so_nothing_cascades(
    sqlite_url: str,
) -> None:
    eng = make_engine(sqlite_url)
    assert migrate(eng).in_sync
    populate(eng)
    plant(  # relaxing needs a rebuild of scrape_jobs, the parent of assets (ON DELETE CASCADE)
        eng,
        "scrape_jobs",
        lambda b: b.alter_column(
            "message", nullable=False, existing_type=sa.String(500), existing_nullable=True
        ),
    )
    report = migrate(eng)
    assert report.in_sync
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM assets")).scalar() == 3
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    eng.dispose()


@pytest.mark.slow
def test_a_baseline_database_is_brought_to_head_by_the_migrations(db_url: str) -> None:
    """0001 -> head adds exactly what 0002 (login_attempts), 0003 (source results), 0004
    (an index), 0005 (attempts, sessions, a worker's last error), 0006 (the lease token), 0007
    (the read indexes), 0008 (schedules, their runs, seen items; a job's schedule and
    incremental flag), 0010 (`q`'s index: an extension and a GIN index, or a side or FTS
    table and its triggers) and 0011 (SQLite: the per-state counts' table and triggers) add,
    by Alembic (nothing left for the repair step); downgrading removes it (pg_trgm aside:
    other objects may use it)."""
    later = [
        ("assets", "missing_column", "author"),
        ("assets", "missing_column", "landing_url"),
        ("assets", "missing_index", "created_at,size_bytes"),
        ("job_attempts", "missing_table", None),
        ("login_attempts", "missing_table", None),
        ("schedule_runs", "missing_table", None),
        ("schedules", "missing_table", None),
        ("scrape_jobs", "missing_column", "incremental"),
        ("scrape_jobs", "missing_column", "lease_token"),
        ("scrape_jobs", "missing_column", "result"),
        ("scrape_jobs", "missing_column", "schedule_id"),
        ("scrape_jobs", "missing_index", "created_at,id"),
        ("scrape_jobs", "missing_index", "finished_at,status"),
        ("scrape_jobs", "missing_index", "progress,created_at"),
        ("scrape_jobs", "missing_index", "schedule_id"),
        ("scrape_jobs", "missing_index", "user_id,status,created_at"),
        ("seen_items", "missing_table", None),
        ("stats_rollup", "missing_table", None),
        ("user_sessions", "missing_table", None),
        ("worker_heartbeats", "missing_column", "last_error"),
    ]
    eng = make_engine(db_url)
    triggers = [("scrape_jobs", "missing_trigger", None)] * 3
    search = {
        "postgresql": [
            ("scrape_jobs", "missing_extension", None),
            ("scrape_jobs", "missing_index", "query"),
        ],
        "mysql": [("scrape_jobs", "missing_side_table", None), *triggers],
        "sqlite": [
            ("scrape_jobs", "missing_virtual_table", None),
            *triggers,
            ("scrape_jobs", "missing_side_table", None),  # 0011: the per-state counts
            *triggers,
        ],
    }[eng.dialect.name]
    with eng.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0001")
    missing = sorted((d.table, d.kind, d.column) for d in check_schema(eng).differences)
    assert missing == sorted(later + search)
    report = migrate(eng)
    assert report.upgraded and report.in_sync and report.applied == []
    with eng.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "0001")
    missing = sorted((d.table, d.kind, d.column) for d in check_schema(eng).differences)
    kept = ("scrape_jobs", "missing_extension", None)  # 0010's downgrade keeps pg_trgm
    assert missing == sorted(d for d in later + search if d != kept)
    eng.dispose()


def test_only_the_newest_three_backups_are_kept(sqlite_url: str, tmp_path: Path) -> None:
    from ops.schema.backup import backup_sqlite

    eng = make_engine(sqlite_url)
    migrate(eng)
    folder = tmp_path / "backups"
    folder.mkdir()
    mine = [folder / "test.db.mine.bak", folder / "other.db.20260101T000000000000Z.bak"]
    for path in mine:
        path.write_bytes(b"the operator's")
    made = [backup_sqlite(eng, folder) for _ in range(5)]  # five self-heals
    name = Path(sqlite_url.removeprefix("sqlite:///")).name
    kept = sorted(p for p in folder.iterdir() if p.name.startswith(name) and p not in mine)
    assert kept == made[-3:] and all(p.is_file() for p in mine)
    eng.dispose()
