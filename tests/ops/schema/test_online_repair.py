"""Online repair on live databases: writes keep flowing, a repair that would block is refused,
a lock held by a long transaction makes the repair retry instead of queueing, and an
interrupted concurrent build is completed by the next run."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text

from ops.cli import main
from ops.errors import ConstraintViolated
from ops.schema.online import LARGE_TABLE_ROWS
from scraper.db import make_engine
from scraper.migrations.manage import auto_heal, check_schema, init_db, migrate
from tests.conftest import fresh_database
from tests.ops.schema.online_load import Writer, fill_jobs, p99
from tests.ops.schema.test_check_schema import engine

__all__ = ["engine"]

INDEX = "ix_scrape_jobs_status_created_at"
FOREIGN_KEY = "fk_scrape_jobs_user_id_users"
CHECK = "ck_scrape_jobs_progress_range"
BIG = 200_000  # rows: a blocking CREATE INDEX holds writes for well over a second here


def drop_index(engine: Engine, name: str = INDEX) -> None:
    on = " ON scrape_jobs" if engine.dialect.name == "mysql" else ""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {name}{on}")


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """An initialised PostgreSQL database."""
    with fresh_database("postgresql", tmp_path) as url:
        eng = make_engine(url)
        init_db(eng)
        yield eng
        eng.dispose()


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An initialised PostgreSQL or MariaDB database."""
    with fresh_database(request.param, tmp_path) as url:
        eng = make_engine(url)
        init_db(eng)
        yield eng
        eng.dispose()


@pytest.mark.slow
def test_dry_run_lists_each_operation_with_its_lock_and_whether_it_is_online(
    engine: Engine,
) -> None:
    drop_index(engine)
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["migrate", "--dry-run", "--json", "--database-url", url])
    assert result.exit_code == 1
    [operation] = json.loads(result.stdout)["operations"]
    assert (operation["kind"], operation["table"]) == ("missing_index", "scrape_jobs")
    expected = {
        "postgresql": ("SHARE UPDATE EXCLUSIVE", True, "CONCURRENTLY"),
        "mysql": ("LOCK=NONE", True, "LOCK=NONE"),
        "sqlite": ("the database write lock", False, "CREATE INDEX"),
    }[engine.dialect.name]
    assert operation["lock"].startswith(expected[0])
    assert operation["online"] is expected[1] and operation["blocking"] is False
    assert expected[2] in operation["steps"][0]["sql"]
    text_out = CliRunner().invoke(main, ["migrate", "--dry-run", "--database-url", url]).stdout
    assert operation["lock"] in text_out and "missing_index scrape_jobs" in text_out
    assert [d.kind for d in check_schema(engine).differences] == ["missing_index"]


@pytest.fixture(params=["sqlite", "mariadb"])
def blocking_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database where some additive repair cannot run online (on PostgreSQL every one can)."""
    with fresh_database(request.param, tmp_path) as url:
        eng = make_engine(url)
        init_db(eng)
        yield eng
        eng.dispose()


@pytest.mark.slow
def test_a_blocking_repair_on_a_large_table_needs_allow_blocking_and_self_heal_never_runs_it(
    blocking_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite builds an index under its one write lock; MariaDB copies a table to add a
    CHECK constraint: on a large table both wait for `--allow-blocking`."""
    engine = blocking_engine
    fill_jobs(engine, LARGE_TABLE_ROWS + 1)
    if engine.dialect.name == "sqlite":
        drop_index(engine)
        kind = "missing_index"
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE scrape_jobs DROP CONSTRAINT {CHECK}")
        kind = "missing_check_constraint"
    with caplog.at_level(logging.WARNING, "ops.schema"):
        healed = auto_heal(engine)
    [refusal] = healed.refused
    assert (refusal.kind, refusal.remedy) == (kind, "--allow-blocking")
    assert "would block writes" in refusal.reason and "scrape_jobs" in refusal.reason
    assert not healed.applied and "auto-heal left" in caplog.text
    url = engine.url.render_as_string(hide_password=False)
    refused = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert refused.exit_code == 1 and "--allow-blocking" in refused.stdout
    allowed = CliRunner().invoke(main, ["migrate", "--allow-blocking", "--database-url", url])
    assert allowed.exit_code == 0, allowed.stdout
    assert check_schema(engine).in_sync


def _repair_under_writes(engine: Engine) -> tuple[list[float], float]:
    url = engine.url.render_as_string(hide_password=False)
    with Writer(url) as writer:
        started = time.monotonic()
        report = migrate(engine)
        ended = time.monotonic()
        time.sleep(0.2)
    assert report.in_sync and not writer.errors
    return writer.during(started, ended), ended - started


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_index_repair_on_a_large_table_never_holds_inserts_for_a_second(
    kind: str, tmp_path: Path
) -> None:
    with fresh_database(kind, tmp_path) as url:
        eng = make_engine(url)
        init_db(eng)
        fill_jobs(eng, BIG)
        drop_index(eng)
        latencies, took = _repair_under_writes(eng)
        eng.dispose()
    # Inserts went on during the build (a blocking CREATE INDEX lets none finish), none waited 1 s.
    assert len(latencies) >= min(10, took / 0.02 / 2), (took, latencies)
    assert max(latencies) < 1.0, (max(latencies), p99(latencies))


@pytest.mark.slow
def test_a_repair_behind_a_long_transaction_retries_instead_of_queueing(
    server: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """ADD COLUMN needs ACCESS EXCLUSIVE (PostgreSQL) or an exclusive metadata lock (MariaDB):
    queued behind a reader's transaction it would stop every insert; with a short lock wait it
    gives up, backs off and tries again."""
    url = server.url.render_as_string(hide_password=False)
    with server.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE scrape_jobs DROP COLUMN message")
    holder = create_engine(url)
    release = threading.Event()

    def hold() -> None:
        with holder.connect() as conn, conn.begin():
            conn.exec_driver_sql("SELECT count(*) FROM scrape_jobs").all()  # ACCESS SHARE
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.3)
    threading.Timer(3.0, release.set).start()
    with caplog.at_level(logging.INFO, "ops.schema"), Writer(url) as writer:
        started = time.monotonic()
        report = migrate(server)
        ended = time.monotonic()
    thread.join()
    holder.dispose()
    latencies = writer.during(started, ended)
    assert report.in_sync and ended - started > 2.5  # it waited for the reader to finish
    # inserts kept flowing: on average one every 100 ms at least
    assert not writer.errors and len(latencies) > (ended - started) * 10
    # none queued behind the waiting ALTER for a second (PostgreSQL's lock_timeout is 0.5 s;
    # on MariaDB the early attempts do not wait at all)
    assert max(latencies) < 1.0, (max(latencies), p99(latencies))
    assert "lock busy" in caplog.text  # by retrying, not by queueing


@pytest.mark.slow
def test_an_interrupted_concurrent_build_is_completed_by_the_next_run(pg: Engine) -> None:
    """A killed `CREATE INDEX CONCURRENTLY` leaves an INVALID index: check-schema reports it
    missing, and migrate drops the leftover and builds it again."""
    drop_index(pg)
    url = pg.url.render_as_string(hide_password=False)
    snapshot, builder = create_engine(url), create_engine(url, isolation_level="AUTOCOMMIT")
    with snapshot.connect() as old, builder.connect() as build:
        old.begin()  # a writer still in its transaction: the build waits for it
        old.execute(_INSERT_ONE)
        pid = build.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        killer = threading.Timer(1.0, _terminate, (pg, pid))
        killer.start()
        try:
            with pytest.raises(Exception, match="terminat"):
                build.exec_driver_sql(
                    f"CREATE INDEX CONCURRENTLY {INDEX} ON scrape_jobs (status, created_at)"
                )
        finally:
            killer.cancel()
            killer.join()
        old.rollback()
    snapshot.dispose()
    builder.dispose()
    assert _valid(pg) is False  # the leftover
    assert [d.kind for d in check_schema(pg).differences] == ["missing_index"]
    assert migrate(pg).in_sync
    assert _valid(pg) is True


@pytest.mark.slow
def test_a_foreign_key_left_not_valid_is_reported_and_validated_by_the_next_run(
    pg: Engine,
) -> None:
    """An online repair interrupted between ADD ... NOT VALID and VALIDATE leaves a key that
    checks new rows only: check-schema says so, and migrate adds it again, validated."""
    with pg.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE scrape_jobs DROP CONSTRAINT {FOREIGN_KEY}")
        conn.exec_driver_sql(
            f"ALTER TABLE scrape_jobs ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (user_id) "
            "REFERENCES users (id) ON DELETE SET NULL NOT VALID"
        )
    [diff] = check_schema(pg).differences
    assert (diff.kind, diff.column) == ("unvalidated_foreign_key", "user_id")
    assert migrate(pg).in_sync
    query = text("SELECT convalidated FROM pg_constraint WHERE conname = :n")
    with pg.connect() as conn:
        assert conn.execute(query, {"n": FOREIGN_KEY}).scalar() is True


_BUILDING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE 'CREATE INDEX CONCURRENTLY%'"
)


@pytest.mark.slow
def test_ops_migrate_interrupted_during_a_concurrent_build_exits_130_and_leaves_no_index(
    pg: Engine,
) -> None:
    """Ctrl-C while `CREATE INDEX CONCURRENTLY` runs: the driver cancels the build (which
    leaves an invalid index), ops drops it, exits 130; the next run builds the index."""
    drop_index(pg)
    url = pg.url.render_as_string(hide_password=False)
    # A transaction with a snapshot: each build waits for it at its end, so it is still running
    # when the signal comes (it waits 0.5 s, gives up, backs off, tries again).
    holder = create_engine(url, isolation_level="REPEATABLE READ")
    with holder.connect() as held:
        held.exec_driver_sql("SELECT count(*) FROM users").all()
        command = [sys.executable, "-m", "ops.cli", "migrate", "--database-url", url]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with pg.connect() as conn:
                deadline = time.monotonic() + 30
                while not conn.execute(_BUILDING).scalar() and time.monotonic() < deadline:
                    conn.rollback()  # a fresh pg_stat_activity snapshot each time
                    time.sleep(0.01)
            seen, alive = time.monotonic() < deadline, proc.poll() is None
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        held.rollback()
    holder.dispose()
    assert proc.returncode == 130, f"build seen: {seen}, running at the signal: {alive}\n{err}"
    assert "interrupted" in err
    assert _valid(pg) is None  # no index of that name, valid or not: nothing half-made
    assert [d.kind for d in check_schema(pg).differences] == ["missing_index"]
    assert migrate(pg).in_sync and _valid(pg) is True


def drop_foreign_key(engine: Engine) -> None:
    drop = "DROP FOREIGN KEY" if engine.dialect.name == "mysql" else "DROP CONSTRAINT"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE scrape_jobs {drop} {FOREIGN_KEY}")


def has_foreign_key(engine: Engine) -> bool:
    query = text(
        "SELECT count(*) FROM information_schema.table_constraints "
        "WHERE constraint_name = :n AND table_name = 'scrape_jobs' AND table_schema = "
        + ("DATABASE()" if engine.dialect.name == "mysql" else "current_schema()")
    )
    with engine.connect() as conn:
        return bool(conn.execute(query, {"n": FOREIGN_KEY}).scalar())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_foreign_key_repair_on_a_large_table_is_online_and_never_holds_inserts_for_a_second(
    kind: str, tmp_path: Path
) -> None:
    """PostgreSQL adds the key NOT VALID, then validates; MariaDB adds it in place with
    foreign_key_checks = 0 (no table copy), then reads the rows for orphans. Self-healing runs
    it on a large table, and inserts never wait a second."""
    with fresh_database(kind, tmp_path) as url:
        eng = make_engine(url)
        init_db(eng)
        fill_jobs(eng, BIG)
        drop_foreign_key(eng)
        [diff] = check_schema(eng).differences
        assert diff.kind == "missing_foreign_key"
        with Writer(url) as writer:
            started = time.monotonic()
            healed = auto_heal(eng)
            ended = time.monotonic()
            time.sleep(0.2)
        assert not healed.refused and healed.in_sync and not writer.errors
        assert has_foreign_key(eng) and check_schema(eng).in_sync
        eng.dispose()
    latencies = writer.during(started, ended)
    assert latencies and max(latencies) < 1.0, (max(latencies), p99(latencies))


def test_a_foreign_key_broken_by_existing_rows_is_not_added_and_the_rows_are_named(
    server: Engine,
) -> None:
    """A job whose user is gone: adding the key must fail with ConstraintViolated, naming the
    key and the row, and leave no key (not even one that checks only new rows) behind."""
    drop_foreign_key(server)
    with server.begin() as conn:
        conn.execute(_INSERT_ONE)
        conn.exec_driver_sql("UPDATE scrape_jobs SET user_id = 987654 WHERE id = 'held'")
    with pytest.raises(ConstraintViolated, match=FOREIGN_KEY) as raised:
        migrate(server)
    assert raised.value.table == "scrape_jobs" and "987654" in str(raised.value)
    assert not has_foreign_key(server)
    url = server.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert result.exit_code == 2 and "violate" in result.output, result.output
    with server.begin() as conn:
        conn.exec_driver_sql("UPDATE scrape_jobs SET user_id = NULL WHERE id = 'held'")
    assert migrate(server).in_sync and has_foreign_key(server)


def test_a_unique_key_broken_by_duplicates_is_not_added_and_no_index_is_left(
    server: Engine,
) -> None:
    """Two users with one name: the unique build fails (PostgreSQL's concurrent build leaves an
    invalid index, which is dropped), ConstraintViolated names the key and the duplicate."""
    name = "uq_users_username"
    with server.begin() as conn:
        drop = "DROP INDEX" if server.dialect.name == "mysql" else "DROP CONSTRAINT"
        conn.exec_driver_sql(f"ALTER TABLE users {drop} {name}")
        for id_ in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, is_active, created_at)"
                    " VALUES (:id, 'twin', 'x', TRUE, CURRENT_TIMESTAMP)"
                ),
                {"id": id_},
            )
    with pytest.raises(ConstraintViolated, match=name) as raised:
        migrate(server)
    assert "twin" in str(raised.value)
    query = text(
        "SELECT count(*) FROM information_schema.statistics WHERE index_name = :n "
        "AND table_schema = DATABASE()"
        if server.dialect.name == "mysql"
        else "SELECT count(*) FROM pg_class WHERE relname = :n"
    )
    with server.connect() as conn:
        assert conn.execute(query, {"n": name}).scalar() == 0
    with server.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET username = 'twin2' WHERE id = 2")
    assert migrate(server).in_sync


_INSERT_ONE = text(
    "INSERT INTO scrape_jobs (id, query, max_content, enabled_sources, created_at, updated_at)"
    " VALUES ('held', 'q', 5, '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


def _valid(engine: Engine) -> bool | None:
    query = text(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :n"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"n": INDEX}).scalar()
