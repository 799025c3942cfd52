"""MariaDB's one-query-per-aspect reflection returns exactly what SQLAlchemy's inspector does
(SHOW CREATE TABLE per table), on the scraper's tables and on a table with the unusual parts:
a column in another character set, a comment, ON UPDATE, a DESC index, a self-referencing
foreign key with ON DELETE, a CHECK, JSON (MariaDB's column-level CHECK)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ops.schema.extras import declared_tables
from ops.schema.live import LiveSchema
from ops.schema.reflect import reflect_schema
from scraper.db import make_engine
from scraper.models import Base
from tests.conftest import fresh_database
from tests.ops.schema.test_collations import METADATA as COLLATED

ODD = (
    "CREATE TABLE odd (id INT PRIMARY KEY, a VARCHAR(10) CHARACTER SET latin1 COMMENT 'it''s', "
    "t TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, p INT, j JSON, "
    "KEY k_desc (a DESC, p), CONSTRAINT fk_odd FOREIGN KEY (p) REFERENCES odd (id) "
    "ON DELETE CASCADE, CONSTRAINT ck_odd CHECK (id > 0))"
)
PREFIX = "CREATE TABLE prefixed (id INT PRIMARY KEY, name VARCHAR(200), KEY k_name (name(20)))"


def _comparable(live: LiveSchema) -> dict[str, Any]:
    def by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda item: str(item.get("name")))

    return {
        name: {
            "columns": [{k: repr(v) for k, v in c.items()} for c in t.columns],
            "indexes": by_name(t.indexes),
            "uniques": by_name(t.uniques),
            "foreign_keys": by_name(t.foreign_keys),
            "primary_key": t.primary_key,
            "checks": by_name(t.checks),
            "collations": (t.collations, t.charsets, t.table_collation, t.table_charset),
        }
        for name, t in live.tables.items()
    }


def _both(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    with engine.connect() as conn:
        fast = _comparable(reflect_schema(conn))
        slow = _comparable(reflect_schema(conn, fast=False))
    return fast, slow


def test_mariadb_fast_reflection_is_the_inspectors(tmp_path: Path) -> None:
    with fresh_database("mariadb", tmp_path) as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        COLLATED.create_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(ODD)
        fast, slow = _both(engine)
        side = declared_tables(Base.metadata, "mysql")  # q's trigram table, made by create_all
        assert len(fast) == len(Base.metadata.tables) + len(side) + 2
        assert fast == slow
        with engine.begin() as conn:  # a prefix index: the fast reader declines, same result
            conn.exec_driver_sql(PREFIX)
        fast, slow = _both(engine)
        engine.dispose()
    assert fast == slow and "prefixed" in fast
