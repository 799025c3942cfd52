"""MariaDB's one-query-per-aspect reflection returns exactly what SQLAlchemy's inspector does
(SHOW CREATE TABLE per table), on the scraper's tables and on a table with the unusual parts:
a column in another character set, a comment, ON UPDATE, a DESC index, a self-referencing
foreign key with ON DELETE, a CHECK, JSON (MariaDB's column-level CHECK)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ops.schema.extras import declared_tables
from ops.schema.live import LiveSchema
from ops.schema.reflect import reflect_schema
from scraper.db import make_engine
from scraper.migrations.manage import check_schema
from scraper.models import Base
from tests.conftest import fresh_database
from tests.ops.schema.test_collations import METADATA as COLLATED

ODD = (
    "CREATE TABLE odd (id INT PRIMARY KEY, a VARCHAR(10) CHARACTER SET latin1 COMMENT 'it''s', "
    "t TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, p INT, j JSON, "
    "KEY k_desc (a DESC, p), CONSTRAINT fk_odd FOREIGN KEY (p) REFERENCES odd (id) "
    "ON DELETE CASCADE, CONSTRAINT ck_odd CHECK (id > 0))"
)
ASSETS_KEY = "fk_assets_job_id_scrape_jobs"
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


def test_a_select_only_account_reads_the_rules_and_is_told_the_triggers_are_unverified(
    tmp_path: Path,
) -> None:
    """MariaDB's information_schema hides the keys' ON DELETE rules and the triggers from an
    account that may only SELECT: nothing it cannot see is reported as drift to repair, and
    a rule that really differs is still found."""
    with fresh_database("mariadb", tmp_path, "initialized") as url:
        root, parsed = make_engine(url), make_url(url)
        user = f"sel_{uuid.uuid4().hex[:8]}"
        with root.begin() as conn:
            conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'pw'")
            conn.exec_driver_sql(f"GRANT SELECT ON `{parsed.database}`.* TO '{user}'@'%%'")

        def seen() -> set[tuple[str, str, str, str]]:
            engine = make_engine(parsed.set(username=user, password="pw"))
            try:
                found = check_schema(engine).differences
            finally:
                engine.dispose()
            return {(d.kind, d.table, str(d.severity), str(d.repair)) for d in found}

        try:
            unverified = {
                ("unverified_trigger", "scrape_jobs", "info", "manual"),
            }
            assert seen() == unverified
            with root.begin() as conn:  # a real difference: the key loses its ON DELETE CASCADE
                conn.exec_driver_sql(
                    "ALTER TABLE assets DROP FOREIGN KEY fk_assets_job_id_scrape_jobs"
                )
                conn.exec_driver_sql(
                    f"ALTER TABLE assets ADD CONSTRAINT {ASSETS_KEY} "
                    "FOREIGN KEY (job_id) REFERENCES scrape_jobs (id)"
                )
            mismatch = ("foreign_key_mismatch", "assets", "warning", "destructive")
            assert seen() == unverified | {mismatch}
            with root.begin() as conn:
                conn.exec_driver_sql(f"GRANT TRIGGER ON `{parsed.database}`.* TO '{user}'@'%%'")
            assert seen() == {mismatch}  # the triggers are seen, and are there
        finally:
            with root.begin() as conn:
                conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            root.dispose()
