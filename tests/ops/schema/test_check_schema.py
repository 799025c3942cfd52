"""check_schema on every dialect: zero false positives, and each planted drift found with its
severity and a fix. The scenario helpers here are shared by the migrate and CLI tests."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Literal

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine

from ops import schema as library
from ops.errors import BadModelsPath
from ops.schema import Difference, Severity, load_metadata
from ops.schema.extras import restore
from scraper.db import make_engine
from scraper.migrations.manage import check_schema, init_db
from scraper.models import Base

Plant = Callable[[Operations, str], None]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database initialised by `init_db`."""
    eng = make_engine(db_url)
    init_db(eng)
    yield eng
    eng.dispose()


def plant(engine: Engine, table: str, change: Callable[..., None]) -> None:
    """Apply `change(batch_op)` to `table` with Alembic (a rebuild on SQLite, FKs off), and
    nothing else: the rebuilt table's triggers (which SQLite drops with the old table) are
    re-created as migrate's own rebuilds do; test_extras.py covers a rebuild that loses them."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            operations = Operations(MigrationContext.configure(conn))
            recreate: Literal["always", "auto"] = "always" if sqlite else "auto"
            with operations.batch_alter_table(table, recreate=recreate) as batch:
                change(batch)
            restore(conn, Base.metadata, table)
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def drop_table(engine: Engine, table: str) -> None:
    """Drop a table outright."""
    with engine.begin() as conn:
        Operations(MigrationContext.configure(conn)).drop_table(table)


# (name, table, change, expected (table, column, kind, severity))
SCENARIOS: list[tuple[str, str, Callable[..., None], tuple[str, str | None, str, Severity]]] = [
    (
        "seed_missing_updated_at",
        "scrape_jobs",
        lambda b: b.drop_column("updated_at"),
        ("scrape_jobs", "updated_at", "missing_column", Severity.CRITICAL),
    ),
    (
        "unexpected_not_null_without_default",
        "scrape_jobs",
        lambda b: b.add_column(sa.Column("legacy", sa.Integer(), nullable=False)),
        ("scrape_jobs", "legacy", "unexpected_column", Severity.CRITICAL),
    ),
    (
        "unexpected_nullable_column",
        "assets",
        lambda b: b.add_column(sa.Column("note", sa.String(20), nullable=True)),
        ("assets", "note", "unexpected_column", Severity.INFO),
    ),
    (
        "narrower_type",
        "scrape_jobs",
        lambda b: b.alter_column("locked_by", type_=sa.String(32), existing_nullable=True),
        ("scrape_jobs", "locked_by", "type_mismatch", Severity.CRITICAL),
    ),
    (
        "incompatible_type",
        "worker_heartbeats",
        lambda b: b.alter_column("pid", type_=sa.String(20), existing_nullable=False),
        ("worker_heartbeats", "pid", "type_mismatch", Severity.CRITICAL),
    ),
    (
        "not_null_where_models_allow_null",
        "scrape_jobs",
        lambda b: b.alter_column(
            "message", nullable=False, existing_type=sa.String(500), existing_nullable=True
        ),
        ("scrape_jobs", "message", "nullability_mismatch", Severity.CRITICAL),
    ),
    (
        "missing_index",
        "scrape_jobs",
        lambda b: b.drop_index("ix_scrape_jobs_locked_by"),
        ("scrape_jobs", "locked_by", "missing_index", Severity.WARNING),
    ),
    (
        "missing_unique_constraint",
        "users",
        lambda b: b.drop_constraint("uq_users_username", type_="unique"),
        ("users", "username", "missing_unique_constraint", Severity.WARNING),
    ),
    (
        "missing_foreign_key",
        "api_tokens",
        lambda b: b.drop_constraint("fk_api_tokens_user_id_users", type_="foreignkey"),
        ("api_tokens", "user_id", "missing_foreign_key", Severity.WARNING),
    ),
    (
        "renamed_column",
        "scrape_jobs",
        lambda b: b.alter_column(
            "message", new_column_name="msg", existing_type=sa.String(500), existing_nullable=True
        ),
        ("scrape_jobs", "message", "probable_rename", Severity.CRITICAL),
    ),
    (
        "different_default",
        "scrape_jobs",
        lambda b: b.alter_column(
            "status", server_default="queued", existing_type=sa.String(16), existing_nullable=False
        ),
        ("scrape_jobs", "status", "default_mismatch", Severity.WARNING),
    ),
    (
        "missing_check_constraint",
        "scrape_jobs",
        lambda b: b.drop_constraint("ck_scrape_jobs_progress_range", type_="check"),
        ("scrape_jobs", None, "missing_check_constraint", Severity.WARNING),
    ),
    (
        "check_constraint_mismatch",
        "scrape_jobs",
        lambda b: (
            b.drop_constraint("ck_scrape_jobs_progress_range", type_="check"),
            b.create_check_constraint(
                "ck_scrape_jobs_progress_range", "progress >= 0 AND progress <= 1000"
            ),
        ),
        ("scrape_jobs", None, "check_constraint_mismatch", Severity.WARNING),
    ),
]
SCENARIO_IDS = [s[0] for s in SCENARIOS]


def key(diff: Difference) -> tuple[str, str | None, str, Severity]:
    return (diff.table, diff.column, diff.kind, diff.severity)


def on_dialect(expected: tuple, dialect: str) -> tuple:
    """SQLite enforces no length: a narrower VARCHAR refuses nothing there (warning)."""
    if dialect == "sqlite" and expected[2] == "type_mismatch" and expected[0] == "scrape_jobs":
        return (*expected[:3], Severity.WARNING)
    return expected


def test_fresh_init_db_reports_no_differences(engine: Engine) -> None:
    report = check_schema(engine)
    assert report.differences == []
    assert report.in_sync


def test_create_all_database_reports_no_differences(db_url: str) -> None:
    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    assert check_schema(eng).differences == []
    eng.dispose()


def test_empty_database_reports_every_table_missing_as_critical(db_url: str) -> None:
    eng = make_engine(db_url)
    report = check_schema(eng)
    eng.dispose()
    assert {d.kind for d in report.differences} == {"missing_table"}
    assert all(
        d.severity is Severity.CRITICAL and "CREATE TABLE" in d.fix for d in report.differences
    )
    assert sorted(d.table for d in report.differences) == sorted(Base.metadata.tables)


def test_missing_table_is_critical_with_create_table_fix(engine: Engine) -> None:
    drop_table(engine, "worker_heartbeats")
    [diff] = check_schema(engine).differences
    assert key(diff) == ("worker_heartbeats", None, "missing_table", Severity.CRITICAL)
    assert "CREATE TABLE worker_heartbeats" in diff.fix
    assert "CREATE INDEX ix_worker_heartbeats_last_seen_at" in diff.fix


@pytest.mark.parametrize(("name", "table", "change", "expected"), SCENARIOS, ids=SCENARIO_IDS)
def test_planted_drift_is_found_alone_with_severity_and_fix(
    engine: Engine, name: str, table: str, change: Callable[..., None], expected: tuple
) -> None:
    plant(engine, table, change)
    report = check_schema(engine)
    assert [key(d) for d in report.differences] == [on_dialect(expected, engine.dialect.name)]
    assert report.differences[0].fix
    assert not report.in_sync


def test_seed_incident_missing_updated_at_fix_adds_the_column(engine: Engine) -> None:
    plant(engine, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    [diff] = check_schema(engine).differences
    assert diff.severity is Severity.CRITICAL
    assert "ALTER TABLE scrape_jobs ADD COLUMN updated_at" in diff.fix
    assert diff.to_dict()["repair"] == "safe"


def test_rename_is_one_difference_not_drop_and_add(engine: Engine) -> None:
    plant(
        engine,
        "scrape_jobs",
        lambda b: b.alter_column("message", new_column_name="msg", existing_type=sa.String(500)),
    )
    [diff] = check_schema(engine).differences
    assert (diff.kind, diff.expected, diff.actual) == ("probable_rename", "message", "msg")


def test_json_shape_has_exactly_the_spec_keys(engine: Engine) -> None:
    plant(engine, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    payload = check_schema(engine).to_json()
    assert payload["in_sync"] is False
    required = {"table", "column", "kind", "severity", "expected", "actual", "fix"}
    assert required <= set(payload["differences"][0])


def test_check_schema_accepts_other_metadata(engine: Engine) -> None:
    other = sa.MetaData()
    sa.Table("users", other, sa.Column("id", sa.Integer, primary_key=True))
    kinds = {(d.table, d.kind) for d in library.check_schema(engine, other).differences}
    assert ("users", "unexpected_column") in kinds
    assert ("scrape_jobs", "unexpected_table") in kinds


def test_load_metadata_accepts_base_and_metadata() -> None:
    from scraper.models import Base

    assert load_metadata("scraper.models:Base") is Base.metadata
    assert load_metadata("scraper.models:Base.metadata") is Base.metadata


@pytest.mark.parametrize(
    "path", ["nope", "no_such_module:Base", "scraper.models:nothing", "scraper.models:utcnow"]
)
def test_load_metadata_rejects_bad_paths(path: str) -> None:
    with pytest.raises(BadModelsPath):
        load_metadata(path)


def _kinds_both_ways(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    from ops.schema.compare import compare_schema
    from ops.schema.reflect import reflect_schema
    from scraper.models import Base

    with engine.connect() as conn:
        fast = compare_schema(Base.metadata, reflect_schema(conn), conn.dialect)
        slow = compare_schema(Base.metadata, reflect_schema(conn, fast=False), conn.dialect)
    return [(*key(d), d.expected, d.actual) for d in fast], [
        (*key(d), d.expected, d.actual) for d in slow
    ]


@pytest.mark.parametrize(("name", "table", "change", "expected"), SCENARIOS, ids=SCENARIO_IDS)
def test_sqlite_fast_reflection_agrees_with_the_inspector(
    sqlite_url: str, name: str, table: str, change: Callable[..., None], expected: tuple
) -> None:
    eng = make_engine(sqlite_url)
    init_db(eng)
    fast, slow = _kinds_both_ways(eng)
    assert fast == slow == []
    plant(eng, table, change)
    fast, slow = _kinds_both_ways(eng)
    assert fast == slow
    assert [f[:4] for f in fast] == [on_dialect(expected, "sqlite")]
    eng.dispose()


class Mood(enum.Enum):
    HAPPY = "happy"
    GRUMPY = "grumpy"


def _varied_metadata(dialect: str) -> sa.MetaData:
    """Types and defaults that trip naive comparers, for a non-scraper app."""
    metadata = sa.MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s"})
    sa.Table(
        "things",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("uid", sa.Uuid, nullable=False),
        sa.Column("name", sa.Unicode(40), nullable=False),
        sa.Column("mood", sa.Enum(Mood), server_default="HAPPY", nullable=False),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("ratio", sa.Float),
        sa.Column("small", sa.SmallInteger, server_default=sa.text("7")),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("born_on", sa.Date),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("notes", sa.UnicodeText),
        sa.Column("active", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("label", sa.String(20), server_default="it's"),
        sa.Column("payload", sa.JSON),
        sa.Index(None, "name", "born_on", unique=True),
    )
    if dialect != "mysql":  # MariaDB has no expression indexes
        sa.Index("ix_things_lower_name", sa.func.lower(metadata.tables["things"].c.name))
    return metadata


def test_varied_types_and_defaults_report_no_differences(db_url: str) -> None:
    eng = make_engine(db_url)
    metadata = _varied_metadata(eng.dialect.name)
    metadata.create_all(eng)
    assert library.check_schema(eng, metadata).differences == []
    eng.dispose()
