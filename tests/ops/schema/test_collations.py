"""check-schema compares column collations and character sets where the models name them, and
`migrate` repairs them online (issue 25, item 5c): a unique key's case-sensitivity depends on
them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import mysql

from ops.schema import Migrations, check_schema, migrate
from ops.schema.online import LARGE_TABLE_ROWS
from scraper.db import NAMING_CONVENTION, make_engine
from tests.conftest import fresh_database

# A case-sensitive collation on each dialect (SQLite: a case-insensitive one, its default being
# case-sensitive), a table default on MariaDB, and a column whose set is named on MariaDB.
CODE = (
    sa.String(40)
    .with_variant(sa.String(40, collation="C"), "postgresql")
    .with_variant(sa.String(40, collation="utf8mb4_bin"), "mysql", "mariadb")
    .with_variant(sa.String(40, collation="NOCASE"), "sqlite")
)
METADATA = sa.MetaData(naming_convention=NAMING_CONVENTION)
CODES = sa.Table(
    "codes",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", CODE, nullable=False, unique=True),
    sa.Column("label", sa.String(80).with_variant(mysql.VARCHAR(80, charset="utf8mb4"), "mysql")),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)
BREAK = {
    "postgresql": ['ALTER TABLE codes ALTER COLUMN code TYPE varchar(40) COLLATE "default"'],
    "mysql": [
        "ALTER TABLE codes DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        "ALTER TABLE codes MODIFY code varchar(40) COLLATE utf8mb4_unicode_ci NOT NULL",
    ],
    "sqlite": [
        "DROP TABLE codes",
        "CREATE TABLE codes (id INTEGER NOT NULL, code VARCHAR(40) NOT NULL, label VARCHAR(80), "
        "CONSTRAINT pk_codes PRIMARY KEY (id), CONSTRAINT uq_codes_code UNIQUE (code))",
    ],
}
MIGRATIONS_ENV = """
from alembic import context
context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
"""
REVISION = 'revision = "0001"\ndown_revision = None\n\n\ndef upgrade():\n    pass\n'


@pytest.fixture
def codes(db_url: str) -> Iterator[Engine]:
    """The `codes` table as the models make it."""
    engine = make_engine(db_url)
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def migrations(tmp_path: Path) -> Migrations:
    """An Alembic script directory with one empty revision: `migrate` then only repairs."""
    (tmp_path / "versions").mkdir(parents=True)
    (tmp_path / "env.py").write_text(MIGRATIONS_ENV)
    (tmp_path / "versions" / "0001_empty.py").write_text(REVISION)
    return Migrations(tmp_path)


def _break(engine: Engine) -> None:
    with engine.begin() as conn:
        for sql in BREAK[engine.dialect.name]:
            conn.exec_driver_sql(sql)


def _insert_codes(engine: Engine, *codes: str) -> None:
    with engine.begin() as conn:
        for code in codes:
            conn.execute(CODES.insert().values(code=code))


def test_a_collation_the_database_lost_is_reported_and_migrate_restores_it(
    codes: Engine, tmp_path: Path
) -> None:
    assert check_schema(codes, METADATA).differences == []
    _break(codes)
    found = {(d.column, d.kind): d for d in check_schema(codes, METADATA).differences}
    diff = found.pop(("code", "collation_mismatch"))
    assert diff.severity.value == "critical"  # a unique key: which values collide changed
    assert diff.expected in {"C", "utf8mb4_bin", "NOCASE"}
    assert "COLLATE" in diff.fix
    if codes.dialect.name == "mysql":  # and the table's default, reported on its own
        table_default = found.pop((None, "collation_mismatch"))
        assert table_default.actual == "utf8mb4_general_ci"
    assert found == {}
    sqlite = codes.dialect.name == "sqlite"  # NOCASE is looser: existing rows may collide
    report = migrate(codes, METADATA, migrations(tmp_path), allow_destructive=sqlite)
    assert report.in_sync, report.refused
    if sqlite:
        _insert_codes(codes, "abc")
        with pytest.raises(sa.exc.IntegrityError):
            _insert_codes(codes, "ABC")
    else:
        _insert_codes(codes, "abc", "ABC")  # the restored key tells case apart again


def test_a_column_in_another_character_set_is_critical_and_never_copied_online(
    tmp_path: Path,
) -> None:
    """MariaDB only: PostgreSQL and SQLite have one character set per database. The server
    can only convert it by copying the table: refused on a large one."""
    with fresh_database("mariadb", tmp_path) as url:
        engine = make_engine(url)
        METADATA.create_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE codes MODIFY label varchar(80) CHARACTER SET latin1")
            conn.exec_driver_sql(
                f"INSERT INTO codes (code) SELECT seq FROM seq_1_to_{LARGE_TABLE_ROWS + 1000}"
            )
            conn.exec_driver_sql("ANALYZE TABLE codes").close()
        [diff] = check_schema(engine, METADATA).differences
        report = migrate(engine, METADATA, migrations(tmp_path / "scripts"))
        engine.dispose()
    assert (diff.column, diff.kind, diff.severity.value) == (
        "label",
        "charset_mismatch",
        "critical",
    )
    assert (diff.expected, diff.actual) == ("utf8mb4", "latin1")
    [refusal] = report.refused
    assert refusal.kind == "charset_mismatch"
    assert "ALGORITHM=COPY" in refusal.reason  # the server's own reason, no table copy run
