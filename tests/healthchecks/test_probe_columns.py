"""The write probe is generated from the service's writes: every column it writes is probed.

For each column of `scrape_jobs` and `assets` (read from the models, so a new column is
covered without a new test) the column is renamed away, as a hand-made `ALTER TABLE` or a
half-applied migration leaves it, and `database:writes` must fail naming it. Renaming rather
than dropping works for every column on every database (SQLite refuses to drop an indexed
one), and the service's inserts and updates refuse a renamed column exactly as a dropped one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from healthchecks import Status
from healthchecks.probe import probe_writes
from healthchecks.writes import check as writes_check
from scraper.config import Settings
from scraper.models import Asset, Base, ScrapeJob
from scraper.runtime import Runtime
from tests.conftest import fresh_database

PROBED = [
    (table.name, column.name)
    for table in (ScrapeJob.__table__, Asset.__table__)
    for column in table.columns
]
KINDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(scope="module", params=KINDS)
def probed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    """One database per kind with the service's schema, shared by the column cases."""
    tmp = tmp_path_factory.mktemp(f"probe-{request.param}")
    with fresh_database(request.param, tmp, "initialized") as url:
        (tmp / "data").mkdir()
        runtime = Runtime(Settings(database_url=url, data_dir=tmp / "data"))
        try:
            yield runtime
        finally:
            runtime.close()


def _rename(engine: Engine, table: str, old: str, new: str) -> None:
    """Rename a column; on MariaDB, which refuses to rename a column a CHECK names, the check
    is dropped and made again over the new name."""
    with engine.begin() as conn:
        checks = []
        if engine.dialect.name == "mysql":
            checks = conn.exec_driver_sql(
                "SELECT constraint_name, check_clause FROM information_schema.check_constraints "
                "WHERE constraint_schema = DATABASE() AND table_name = %s AND level = 'Table' "
                "AND check_clause LIKE %s",
                (table, f"%`{old}`%"),
            ).all()
        for name, _ in checks:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
        for name, clause in checks:
            renamed = clause.replace(f"`{old}`", f"`{new}`")
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({renamed})")


@pytest.mark.parametrize(("table", "column"), PROBED, ids=[f"{t}.{c}" for t, c in PROBED])
def test_each_column_the_service_writes_is_probed(probed: Runtime, table: str, column: str) -> None:
    engine = probed.engine
    assert writes_check(probed).status is Status.PASS
    _rename(engine, table, column, f"{column}_gone")
    try:
        engine.dispose()  # SQLite and MariaDB cache statements per connection
        result = writes_check(probed)
        assert result.status is Status.FAIL, result.output
        refusal = result.evidence["refusal"]
        named = (refusal["column"] or "").rsplit(".", 1)[-1]
        assert named == column or f"'{column}'" in refusal["message"], refusal
        assert column in result.output, result.output
        assert result.fix is not None and result.remedy is not None
        assert result.remedy.heal == "migrate", result.fix
    finally:
        _rename(engine, table, f"{column}_gone", column)
        engine.dispose()


@pytest.mark.postgres
def test_the_probe_draws_no_id_but_checks_the_sequence_privilege(tmp_path: Path) -> None:
    """A rolled-back `nextval` is not rolled back, so the probe draws nothing; a role that
    may insert rows but not draw their ids is refused, naming the sequence, with the grant."""
    with fresh_database("postgresql", tmp_path, "initialized") as url:
        engine = create_engine(url)
        role = f"noseq_{uuid.uuid4().hex[:8]}"
        try:
            before = _drawn(engine)
            for _ in range(3):
                assert probe_writes(engine, url).refusal is None
            assert _drawn(engine) == before  # no counter advanced
            with engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
                tables = "ALL TABLES IN SCHEMA public"
                conn.exec_driver_sql(
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO "{role}"'
                )
            limited = make_url(url).set(username=role).render_as_string(hide_password=False)
            settings = Settings(database_url=limited, data_dir=tmp_path / "data")
            (tmp_path / "data").mkdir()
            runtime = Runtime(settings)
            try:
                result = writes_check(runtime)
            finally:
                runtime.close()
            assert result.status is Status.FAIL
            refusal = result.evidence["refusal"]
            assert refusal["kind"] == "privilege" and refusal["sqlstate"] == "42501", refusal
            assert "permission denied for sequence assets_id_seq" in refusal["message"]
            assert result.fix is not None and "GRANT USAGE, SELECT ON ALL SEQUENCES" in result.fix
            assert _drawn(engine) == before
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
            engine.dispose()


def _drawn(engine: Engine) -> dict[str, int]:
    """How many values each sequence of the service's tables has handed out."""
    with engine.connect() as conn:
        names = conn.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        ).all()
        drawn = "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
        return {name: int(conn.scalar(text(f'{drawn} FROM "{name}"')) or 0) for name in names}


def test_the_probe_writes_every_column_of_every_table_it_writes(probed: Runtime) -> None:
    """Read from the SQL the probe sent: each table it writes, every column of the models'."""
    result = writes_check(probed)
    assert result.status is Status.PASS, result.output
    coverage = result.evidence["coverage"]["tables"]
    expected = {
        "scrape_jobs", "assets", "worker_heartbeats", "job_attempts",
        "users", "user_sessions", "login_attempts", "stats_rollup",
    }  # fmt: skip
    assert set(coverage) == expected
    for table, columns in coverage.items():
        assert set(columns) == {c.name for c in Base.metadata.tables[table].columns}, table
    if probed.engine.dialect.name == "postgresql":
        checked = result.evidence["coverage"]["sequence_privileges_checked"]
        assert set(checked) == {"assets", "job_attempts", "users", "login_attempts"}
