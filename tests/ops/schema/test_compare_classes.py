"""The false-positive and miss classes of issue 13, each on SQLite, PostgreSQL and MariaDB.

Each test builds the live database from a second MetaData describing what it holds, then
compares the models with it: the same comparison a real application's database gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import mysql

from ops.schema import Repair, Severity, check_schema
from tests.conftest import sqlite_only

Build = Callable[[sa.MetaData], sa.Table]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = sa.create_engine(db_url)
    yield eng
    eng.dispose()


def both(build: Build) -> tuple[sa.MetaData, sa.Table]:
    metadata = sa.MetaData()
    return metadata, build(metadata)


def found(engine: Engine, models: sa.MetaData) -> list[tuple[str | None, str, Severity]]:
    return [(d.column, d.kind, d.severity) for d in check_schema(engine, models).differences]


def execute(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)


def _checked(metadata: sa.MetaData, checks: bool = True) -> sa.Table:
    table = sa.Table(
        "version_info",
        metadata,
        sa.Column("version_info_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(10)),
    )
    if checks:  # unnamed, as Optuna declares them
        table.append_constraint(sa.CheckConstraint("version_info_id=1"))
        table.append_constraint(sa.CheckConstraint(table.c.state.in_(["new", "old"])))
    return table


def test_unnamed_checks_match_the_names_the_database_gave_them(engine: Engine) -> None:
    models, _ = both(_checked)
    models.create_all(engine)
    assert found(engine, models) == []


def test_a_dropped_unnamed_check_is_missing(engine: Engine) -> None:
    live, _ = both(lambda m: _checked(m, checks=False))
    live.create_all(engine)
    models, _ = both(_checked)
    kinds = found(engine, models)
    assert kinds == [(None, "missing_check_constraint", Severity.WARNING)] * 2
    # the values as create_all emits them, not SQLAlchemy's __[POSTCOMPILE_state_1]
    shown = [d.expected for d in check_schema(engine, models).differences]
    assert any("IN ('new', 'old')" in str(text) for text in shown), shown


def _request_ids(metadata: sa.MetaData, *indexed: str) -> sa.Table:
    return sa.Table(
        "trace_tags",
        metadata,
        sa.Column("request_id", sa.String(50), primary_key=True),
        sa.Index("index_trace_tags_request_id", *indexed),
    )


@sqlite_only
def test_an_index_the_models_declare_without_columns_is_matched_by_its_name(
    engine: Engine,
) -> None:
    """As MLflow declares two (its migrations index request_id): no false positive, and when
    it is gone, missing with no fix to run (CREATE INDEX … () fails)."""
    live, _ = both(lambda m: _request_ids(m, "request_id"))
    live.create_all(engine)
    models, _ = both(_request_ids)
    assert found(engine, models) == []
    execute(engine, "DROP INDEX index_trace_tags_request_id")
    [diff] = check_schema(engine, models).differences
    assert (diff.kind, diff.repair) == ("missing_index", Repair.MANUAL), diff


def _typed(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "flags",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("on", sa.Boolean(create_constraint=True)),
        sa.Column("mood", sa.Enum("happy", "sad", name="mood", create_constraint=True)),
        sa.Column("plain", sa.Enum("a", "b", native_enum=False, create_constraint=True)),
    )


def test_type_generated_checks_are_expected_only_where_the_dialect_emits_them(
    engine: Engine,
) -> None:
    models, _ = both(_typed)
    models.create_all(engine)
    assert found(engine, models) == []


def _indexed(metadata: sa.MetaData, dialect: str, drop: str | None = None) -> sa.Table:
    table = sa.Table(
        "versions",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("major", sa.Integer),
        sa.Column("name", sa.String(40)),
    )
    indexes = {
        "ix_major_desc": lambda: sa.Index("ix_major_desc", sa.text("major DESC"), table.c.name),
        "ix_name_desc": lambda: sa.Index("ix_name_desc", table.c.name.desc()),
        "ix_major_a": lambda: sa.Index("ix_major_a", table.c.major),
        "ix_major_b": lambda: sa.Index("ix_major_b", table.c.major),
    }
    if dialect != "mysql":  # MariaDB has no functional indexes
        indexes["ix_lower"] = lambda: sa.Index("ix_lower", sa.func.lower(table.c.name))
    for name, make in indexes.items():
        if name != drop:
            make()
    return table


def test_expression_and_ordered_indexes_are_in_sync(engine: Engine) -> None:
    models = sa.MetaData()
    _indexed(models, engine.dialect.name)
    models.create_all(engine)
    assert found(engine, models) == []


@pytest.mark.parametrize("dropped", ["ix_major_desc", "ix_name_desc", "ix_major_b"])
def test_a_missing_ordered_or_duplicate_index_is_found_alone(engine: Engine, dropped: str) -> None:
    live, models = sa.MetaData(), sa.MetaData()
    _indexed(live, engine.dialect.name, drop=dropped)
    live.create_all(engine)
    _indexed(models, engine.dialect.name)
    [(column, kind, severity)] = found(engine, models)
    assert (kind, severity) == ("missing_index", Severity.WARNING)
    assert column == {"ix_major_desc": "major DESC,name", "ix_name_desc": "name DESC"}.get(
        dropped, "major"
    )


def _texts(metadata: sa.MetaData, long: bool) -> sa.Table:
    body = sa.Text().with_variant(mysql.LONGTEXT(), "mysql") if long else sa.Text()
    return sa.Table(
        "docs", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", body)
    )


def test_longtext_model_over_text_column_is_critical_on_mariadb(engine: Engine) -> None:
    live, _ = both(lambda m: _texts(m, long=False))
    live.create_all(engine)
    models, _ = both(lambda m: _texts(m, long=True))
    expected = [("body", "type_mismatch", Severity.CRITICAL)]
    assert found(engine, models) == (expected if engine.dialect.name == "mysql" else [])
    assert found(engine, live) == []


def _keyed(metadata: sa.MetaData, columns: tuple[str, ...]) -> sa.Table:
    return sa.Table(
        "pairs",
        metadata,
        sa.Column("a", sa.Integer, nullable=False),
        sa.Column("b", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(*columns),
    )


@pytest.mark.parametrize(
    ("live_key", "severity"), [(("b", "a"), Severity.INFO), (("a",), Severity.CRITICAL)]
)
def test_primary_key_order_alone_is_not_critical(
    engine: Engine, live_key: tuple[str, ...], severity: Severity
) -> None:
    live, _ = both(lambda m: _keyed(m, live_key))
    live.create_all(engine)
    models, _ = both(lambda m: _keyed(m, ("a", "b")))
    assert found(engine, models) == [("a,b", "primary_key_mismatch", severity)]


def _status(metadata: sa.MetaData, values: list[str], live_check: bool) -> sa.Table:
    table = sa.Table(
        "jobs",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.Enum(*values, name="status", native_enum=False, length=20)),
    )
    if live_check:
        table.append_constraint(sa.CheckConstraint(table.c.status.in_(values), name="ck_status"))
    return table


def test_a_check_refusing_a_value_the_models_write_is_critical(engine: Engine) -> None:
    live, _ = both(lambda m: _status(m, ["pending", "running"], live_check=True))
    live.create_all(engine)
    models, _ = both(lambda m: _status(m, ["pending", "running", "failed"], live_check=False))
    [diff] = check_schema(engine, models).differences
    assert (diff.kind, diff.severity) == ("unexpected_check_constraint", Severity.CRITICAL)
    assert "failed" in diff.why


def _native(metadata: sa.MetaData, values: list[str]) -> sa.Table:
    return sa.Table(
        "runs",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.Enum(*values, name="runstate")),
    )


def test_a_native_enum_missing_a_model_value_is_critical(engine: Engine) -> None:
    live, _ = both(lambda m: _native(m, ["RUNNING", "DONE"]))
    live.create_all(engine)
    models, _ = both(lambda m: _native(m, ["RUNNING", "DONE", "WAITING"]))
    differences = check_schema(engine, models).differences
    if engine.dialect.name == "sqlite":  # VARCHAR(7) either way: nothing is refused
        assert differences == []
        return
    [diff] = differences
    assert (diff.kind, diff.severity) == ("type_mismatch", Severity.CRITICAL)
    assert "WAITING" in diff.expected and "WAITING" not in str(diff.actual)
    if engine.dialect.name == "postgresql":
        assert "ALTER TYPE runstate ADD VALUE 'WAITING'" in diff.fix
