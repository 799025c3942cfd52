"""check-schema compares a column type as it compiles for the dialect: `@compiles` rules,
`TypeDecorator.load_dialect_impl` and `with_variant` are honoured (issue 25, item 5a)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles

from ops.schema import check_schema
from scraper.db import make_engine
from tests.conftest import fresh_database


class LongText(sa.types.TypeDecorator[str]):
    """LONGTEXT on MySQL/MariaDB, TEXT elsewhere."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(sa.Text())


class BigText(sa.Text):
    """A Text subclass compiled to LONGTEXT on MySQL by a @compiles rule."""


class PreciseDateTime(sa.DateTime):
    """A DateTime compiled with microseconds on MySQL by a @compiles rule."""


@compiles(BigText, "mysql")
def _big_text(type_: BigText, compiler: Any, **kw: Any) -> str:
    return "LONGTEXT"


@compiles(PreciseDateTime, "mysql")
def _precise(type_: PreciseDateTime, compiler: Any, **kw: Any) -> str:
    return "DATETIME(6)"


METADATA = sa.MetaData()
sa.Table(
    "documents",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("body", LongText),
    sa.Column("notes", BigText),
    sa.Column("seen_at", PreciseDateTime),
    sa.Column("code", sa.String(10).with_variant(mysql.VARCHAR(20), "mysql")),
)


def test_dialect_specific_types_on_a_create_all_database_are_not_drift(db_url: str) -> None:
    engine = make_engine(db_url)
    METADATA.create_all(engine)
    assert check_schema(engine, METADATA).differences == []
    engine.dispose()


def test_a_plain_text_column_where_the_model_compiles_to_longtext_is_reported(
    tmp_path: Path,
) -> None:
    """MariaDB/MySQL only: TEXT is unbounded on the other dialects."""
    with fresh_database("mariadb", tmp_path) as url:
        engine = make_engine(url)
        METADATA.create_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE documents MODIFY notes TEXT")
        [diff] = check_schema(engine, METADATA).differences
        engine.dispose()
    assert (diff.column, diff.kind) == ("notes", "type_mismatch")
