"""The write probe is generated from the service's writes: every column it writes is probed.

Every column of every table the service writes (read from the models, so a new column is
covered without a new test) is taken away, one at a time, and `database:writes` must fail
naming it. On PostgreSQL the column is dropped, as `ALTER TABLE ... DROP COLUMN` by hand or a
half-applied migration leaves it (its indexes and keys go with it), and one pass of the
self-healer must bring it back, indexes included, so that the probe passes again. On SQLite
(which refuses to drop an indexed column) and MariaDB (which refuses to drop a column a
foreign key's index needs) the column is renamed away instead: the service's inserts and
updates refuse a renamed column exactly as a dropped one; there the job's and its assets'
columns are renamed, the other tables' are held to the probe by the coverage test (from the SQL
it sent). A primary key is renamed on PostgreSQL too: dropping it takes the table's identity
and the keys onto it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, UniqueConstraint, create_engine, text
from sqlalchemy.engine import make_url

from healthchecks import CheckResult, Status
from healthchecks.probe import probe_asset, probe_job, probe_writes
from healthchecks.writes import check as writes_check
from scraper.accounts import create_user
from scraper.accounts.logins import record_failure
from scraper.app.selfheal import SelfHealer
from scraper.config import Settings
from scraper.jobs.history import record_attempt
from scraper.jobs.store import JobStore
from scraper.models import Base
from scraper.runtime import Runtime
from tests.conftest import fresh_database

# The tables the service writes; the coverage test holds the probe to exactly these.
WRITTEN = (
    "scrape_jobs", "assets", "worker_heartbeats", "job_attempts",
    "users", "user_sessions", "login_attempts", "stats_rollup",
)  # fmt: skip
COLUMNS = [(table, column) for table in WRITTEN for column in Base.metadata.tables[table].columns]
MARKS = {"postgresql": pytest.mark.postgres, "mariadb": pytest.mark.mariadb}
KINDS = [
    pytest.param(kind, marks=MARKS.get(kind, ())) for kind in ("sqlite", "postgresql", "mariadb")
]
SQLITE_AND_MARIADB, POSTGRES = [KINDS[0], KINDS[2]], [KINDS[1]]


PRIMARY_KEYS = [(t, c) for t, c in COLUMNS if c.primary_key]
OTHERS = [(t, c) for t, c in COLUMNS if not c.primary_key]
# Renamed on SQLite and MariaDB: the job's and its assets' columns (the other tables' columns
# are held to the probe by the coverage test below, from the SQL it sent).
JOB_AND_ASSETS = [(t, c) for t, c in COLUMNS if t in ("scrape_jobs", "assets")]
# Dropped on MariaDB too: the columns of a multi-column index (MariaDB keeps the index, minus
# the column, under its name: the repair must drop it before building it again). MariaDB
# refuses to drop a column a foreign key or a multi-column unique key needs.
IN_SHARED_INDEXES = [
    (t, c)
    for t, c in JOB_AND_ASSETS
    if not c.primary_key
    and not c.foreign_keys
    and any(len(i.columns) > 1 and c.name in i.columns and not i.unique for i in c.table.indexes)
    and not any(
        isinstance(k, UniqueConstraint) and c.name in k.columns for k in c.table.constraints
    )
]


def _ids(columns: list[tuple[str, Any]]) -> dict[str, Any]:
    """parametrize(table, column) over these; one database per kind serves them all."""
    return {
        "argnames": ("table", "column"),
        "argvalues": [(table, column.name) for table, column in columns],
        "ids": [f"{table}.{column.name}" for table, column in columns],
    }


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


def _fails_naming(result: CheckResult, column: str) -> None:
    assert result.status is Status.FAIL, result.output
    refusal = result.evidence["refusal"]
    named = (refusal["column"] or "").rsplit(".", 1)[-1]
    assert named == column or f"'{column}'" in refusal["message"], refusal
    assert column in result.output, result.output
    assert result.fix is not None and result.remedy is not None
    assert result.remedy.heal == "migrate", result.fix


@pytest.mark.parametrize("probed", SQLITE_AND_MARIADB, indirect=True)
@pytest.mark.parametrize(**_ids(JOB_AND_ASSETS))
def test_each_column_the_service_writes_renamed_away_fails_the_probe(
    probed: Runtime, table: str, column: str
) -> None:
    _renamed_away_fails(probed, table, column)


@pytest.mark.parametrize("probed", POSTGRES, indirect=True)
@pytest.mark.parametrize(**_ids(PRIMARY_KEYS))
def test_a_primary_key_renamed_away_fails_the_probe(
    probed: Runtime, table: str, column: str
) -> None:
    _renamed_away_fails(probed, table, column)


def _renamed_away_fails(probed: Runtime, table: str, column: str) -> None:
    engine = probed.engine
    _rename(engine, table, column, f"{column}_gone")
    try:
        engine.dispose()  # SQLite and MariaDB cache statements per connection
        _fails_naming(writes_check(probed), column)
    finally:
        _rename(engine, table, f"{column}_gone", column)
        engine.dispose()


@pytest.mark.parametrize("probed", POSTGRES, indirect=True)
@pytest.mark.parametrize(**_ids(OTHERS))
def test_each_column_the_service_writes_dropped_fails_the_probe_and_self_heals(
    probed: Runtime, table: str, column: str
) -> None:
    _dropped_fails_and_heals(probed, table, column)


@pytest.mark.parametrize("probed", [KINDS[2]], indirect=True)
@pytest.mark.parametrize(**_ids(IN_SHARED_INDEXES))
def test_a_column_of_a_shared_index_dropped_on_mariadb_self_heals(
    probed: Runtime, table: str, column: str
) -> None:
    _dropped_fails_and_heals(probed, table, column)


def _dropped_fails_and_heals(probed: Runtime, table: str, column: str) -> None:
    engine = probed.engine
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    engine.dispose()
    refused = writes_check(probed)
    _fails_naming(refused, column)
    healed = SelfHealer(probed).repair(refused)  # one pass of the running service's healer
    assert healed is not None and healed.ok, healed
    assert f"missing_column {table}.{column}" in healed.detail, healed.detail
    engine.dispose()
    assert writes_check(probed).status is Status.PASS


@pytest.mark.postgres
def test_each_privilege_the_service_needs_revoked_fails_the_probe_naming_it(
    tmp_path: Path,
) -> None:
    """A rolled-back `nextval` is not rolled back, so the probe draws nothing. A role with
    every privilege the probe's writes took (read from its own report: INSERT and UPDATE per
    table, SELECT on each, USAGE on each id sequence) loses one at a time: the probe fails
    naming the table (or sequence) and the privilege, and the printed GRANT, run by the
    owner, makes it pass again."""
    with fresh_database("postgresql", tmp_path, "initialized") as url:
        engine = create_engine(url)
        role = f"probe_{uuid.uuid4().hex[:8]}"
        (tmp_path / "data").mkdir()
        limited = make_url(url).set(username=role).render_as_string(hide_password=False)
        runtime = Runtime(Settings(database_url=limited, data_dir=tmp_path / "data"))
        try:
            before = _drawn(engine)
            assert probe_writes(engine, url).refusal is None
            assert _drawn(engine) == before  # no counter advanced
            _sql(
                engine,
                f'CREATE ROLE "{role}" LOGIN',
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
                f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
            )
            coverage = writes_check(runtime).evidence["coverage"]
            needed = [(t, p) for t, ps in coverage["privileges"].items() for p in ps]
            needed += [
                (_sequence_of(engine, table), "USAGE")
                for table in coverage["sequence_privileges_checked"]
            ]
            assert {p for _, p in needed} == {"SELECT", "INSERT", "UPDATE", "DELETE", "USAGE"}
            for target, privilege in needed:
                on = f'SEQUENCE "{target}"' if privilege == "USAGE" else f'"{target}"'
                _sql(engine, f'REVOKE {privilege} ON {on} FROM "{role}"')
                result = writes_check(runtime)
                assert result.status is Status.FAIL, (target, privilege)
                refusal = result.evidence["refusal"]
                assert refusal["kind"] == "privilege" and refusal["sqlstate"] == "42501"
                assert f"lacks {privilege} on {target}" in result.output, result.output
                assert result.remedy is not None and result.remedy.sql, result.fix
                assert "GRANT" in result.remedy.sql and target in result.remedy.sql
                _sql(engine, result.remedy.sql)  # the printed command, as the owner
                assert writes_check(runtime).status is Status.PASS, (target, result.fix)
            assert _drawn(engine) == before
        finally:
            runtime.close()
            _sql(engine, f'DROP OWNED BY "{role}"', f'DROP ROLE IF EXISTS "{role}"')
            engine.dispose()


def _sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _sequence_of(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        found = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    return str(found).rsplit(".", 1)[-1]


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
    assert set(coverage) == set(WRITTEN)
    for table, columns in coverage.items():
        assert set(columns) == {c.name for c in Base.metadata.tables[table].columns}, table
    if probed.engine.dialect.name == "postgresql":
        checked = result.evidence["coverage"]["sequence_privileges_checked"]
        assert set(checked) == {"assets", "job_attempts", "users", "login_attempts"}


@pytest.mark.mariadb
def test_mariadb_counters_that_drew_one_id_do_not_move(tmp_path: Path) -> None:
    """MariaDB moves an AUTO_INCREMENT counter that has drawn exactly one id (2 -> 3) on any
    explicit id the probe could give it, rolled back or not: the probe checks such a table by
    an insert of no row instead, and the next real row takes the next id (a fresh install: one
    admin, one asset, one attempt, one failed sign-in)."""
    with fresh_database("mariadb", tmp_path, "initialized") as url:
        (tmp_path / "data").mkdir()
        runtime = Runtime(Settings(database_url=url, data_dir=tmp_path / "data"))
        try:
            store, job = JobStore(runtime.Session), str(uuid.uuid4())
            create_user(runtime.Session, "first-admin", "password", admin=True)
            record_failure(runtime.Session, "someone", "203.0.113.9")
            store.insert(probe_job(job))
            with runtime.Session() as s, s.begin():
                s.add(probe_asset(job))
            record_attempt(runtime.Session, store.get(job))  # type: ignore[arg-type]
            before = _counters(runtime.engine)
            assert set(before.values()) == {2}, before  # each drew one id
            report = probe_writes(runtime.engine, url)
            assert report.refusal is None, report.refused
            assert _counters(runtime.engine) == before
            _sql(runtime.engine, "DELETE FROM user_roles", "DELETE FROM users")  # none left
            report = probe_writes(runtime.engine, url)  # (the session: checked without a row)
            assert report.refusal is None, report.refused
            assert _counters(runtime.engine) == before
            assert create_user(runtime.Session, "second", "password").id == 2
        finally:
            runtime.close()


def _counters(engine: Engine) -> dict[str, int]:
    """MariaDB: the next id of each table the probe inserts into with a drawn id."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN "
                "('users', 'assets', 'job_attempts', 'login_attempts')"
            )
        ).all()
    return {str(name): int(counter) for name, counter in rows}
