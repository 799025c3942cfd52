"""Faults only the write probe sees: the database refuses the service's own writes.

Each test sets a fault up the way it happens in the field, runs `ops doctor` (which must
change nothing), asserts the root cause, the key evidence and the fix, applies the printed
fix, and asserts the next run passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ops.cli import main
from scraper.db import make_engine
from scraper.migrations.manage import auto_heal
from tests.conftest import DIALECTS
from tests.ops.doctor.conftest import FaultEnv, Symptom, fix_sql

WRITES = "database:writes"


def _refusal(cause: dict) -> dict:
    refusal: dict = cause["evidence"]["refusal"]
    return refusal


def _mariadb_user(env: FaultEnv, privileges: str) -> tuple[str, str, list[str]]:
    """A user with these privileges on this database only -> (name, its URL, how to drop it)."""
    user, parsed = f"u_{uuid.uuid4().hex[:8]}", make_url(env.url)
    env.sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'",
        f"GRANT {privileges} ON `{parsed.database}`.* TO '{user}'@'%'",
    )
    url = parsed.set(username=user, password="pw").render_as_string(hide_password=False)
    return user, url, [f"DROP USER '{user}'@'%'"]


@pytest.mark.slow
def test_select_only_role_is_named_with_the_grant_that_fixes_it(server_env: FaultEnv) -> None:
    env, user = server_env, f"ro_{uuid.uuid4().hex[:8]}"
    parsed = make_url(env.url)
    if env.dialect == "postgresql":
        env.sql(
            f'CREATE ROLE "{user}" LOGIN',
            f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{user}"',
        )
        url = parsed.set(username=user).render_as_string(hide_password=False)
        drop = [f'DROP OWNED BY "{user}"', f'DROP ROLE "{user}"']
    else:
        user, url, drop = _mariadb_user(env, "SELECT")
    try:
        with env.service(url) as symptom:
            seen = symptom()
        # every API call fails: the token's last use is an UPDATE the role may not make
        assert seen.created == 503 and "api_tokens" in seen.job["message"], seen
        assert seen.ready == 503 and WRITES in seen.failing(), seen
        code, report = env.doctor(url=url)
        cause = report["root_cause"]
        assert code == 1 and cause["check"] == WRITES
        # MariaDB hides the triggers from a SELECT-only account: "cannot be verified", and
        # no fix that drops data (nor any other) is offered for them
        fixes = [c["fix"] or "" for c in report["checks"]]
        fixes += [str(c["fix"]) for c in [cause, *report["other_findings"]]]
        assert not [f for f in fixes if "--allow-destructive" in f], fixes
        assert _refusal(cause)["kind"] == "privilege"
        assert _refusal(cause)["sqlstate"] == "42501" or _refusal(cause)["errno"] == 1142
        assert user in cause["summary"] and "GRANT" in cause["fix"]
        env.sql(fix_sql(cause))
        env.passes(url=url)
    finally:
        env.sql(*drop)


@pytest.mark.slow
@pytest.mark.postgres
def test_read_only_database_gets_alter_database(env_factory) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory("postgresql")
    env.init()
    env.live_worker()
    name = make_url(env.url).database
    env.token()  # the service's admin is made before the database refuses every write
    env.sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with env.service() as symptom:
        seen = symptom()
    # the token's last use is the first write refused: 503 with PostgreSQL's words
    assert seen.created == 503 and "read-only transaction" in seen.job["message"], seen
    assert seen.ready == 503 and list(seen.failing()) == [WRITES], seen
    assert "set at the database level" in seen.readiness["output"], seen
    assert "default_transaction_read_only = off" in seen.readiness["checks"][WRITES][0]["fix"]
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "read_only" and _refusal(cause)["sqlstate"] == "25006"
    assert cause["evidence"]["default_transaction_read_only_from"] == "database"
    assert (
        "ALTER DATABASE" in cause["fix"] and "default_transaction_read_only = off" in cause["fix"]
    )
    subprocess.run(cause["fix"], shell=True, check=True, capture_output=True)  # the printed psql
    env.passes()


@pytest.mark.slow
@pytest.mark.mariadb
def test_mariadb_read_only_server_gets_the_admin_command(env_factory) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory("mariadb")
    env.init()
    env.live_worker()
    _, url, drop = _mariadb_user(env, "ALL PRIVILEGES")  # read_only binds it, unlike root
    try:
        try:
            with env.service(url) as symptom:  # started first: the read-only window stays short
                env.sql("SET GLOBAL read_only = ON")  # the server is shared (a demoted primary)
                seen = symptom()
            # the token's last use is the first write refused: 503 with the server's errno
            assert seen.created == 503 and "1290" in seen.job["message"], seen
            assert seen.ready == 503 and "read_only = ON" in seen.failing().get(WRITES, ""), seen
            assert "SET GLOBAL read_only = OFF" in seen.readiness["checks"][WRITES][0]["fix"]
            cause = env.cause(url=url)
            assert cause["check"] == WRITES
            assert _refusal(cause)["kind"] == "read_only" and _refusal(cause)["errno"] == 1290
            evidence = cause["evidence"]
            assert evidence["read_only"] == 1 and evidence["sql"] == "SET GLOBAL read_only = OFF"
            assert evidence["replica"] is None  # the user may not read SHOW REPLICA STATUS
            assert "replica" in cause["summary"]
            assert cause["fix"].startswith("mysql ") and "-u root" in cause["fix"]
            subprocess.run(cause["fix"], shell=True, check=True, capture_output=True, timeout=30)
            assert env.sql("SELECT @@global.read_only") == 0  # the printed command did it
        finally:
            env.sql("SET GLOBAL read_only = OFF")
        env.passes(url=url)
    finally:
        env.sql(*drop)


@pytest.mark.slow
@pytest.mark.mariadb
def test_mariadb_read_only_session_from_the_url_gets_the_url_without_it(env_factory) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory("mariadb")
    env.init()
    env.live_worker()
    readonly = (
        make_url(env.url)
        .update_query_dict({"init_command": "SET SESSION TRANSACTION READ ONLY"})
        .render_as_string(hide_password=False)
    )
    with env.service(readonly) as symptom:
        seen = symptom()
    # the token's last use is the first write refused: the API answers 503 with the errno
    assert seen.created == 503 and "1792" in seen.job["message"], seen
    assert seen.ready == 503 and "init_command=" in seen.failing().get(WRITES, ""), seen
    assert "init_command" not in seen.readiness["checks"][WRITES][0]["fix"], seen
    cause = env.cause(url=readonly)
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "read_only" and _refusal(cause)["errno"] == 1792
    assert cause["evidence"]["tx_read_only"] == 1 and cause["evidence"]["read_only"] == 0
    fixed = cause["fix"].split("=", 1)[1].strip("'")
    assert "init_command" not in fixed
    env.passes(url=fixed)


@pytest.mark.slow
def test_sqlite_url_opened_read_only_gets_the_writable_url(env_factory) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory("sqlite")
    env.init()
    env.live_worker()
    path = make_url(env.url).database
    readonly = f"sqlite:///file:{path}?mode=ro&uri=true"
    with env.service(readonly) as symptom:
        seen = symptom()
    # the token's last use is the first write refused: the API answers 503 with SQLite's words
    assert seen.created == 503 and "readonly database" in seen.job["message"], seen
    assert seen.ready == 503 and "(mode=ro)" in seen.failing().get(WRITES, ""), seen
    assert "mode=rw" in seen.readiness["checks"][WRITES][0]["fix"], seen
    cause = env.cause(url=readonly)
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "read_only"
    assert _refusal(cause)["sqlstate"] == "SQLITE_READONLY"
    fixed = cause["fix"].split("=", 1)[1].strip("'")
    assert "mode=rw" in fixed
    env.passes(url=fixed)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_lock_held_by_another_session_names_the_holder(env_factory, dialect: str) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    holder = _hold_lock(env)
    try:
        cause = env.cause()
        assert cause["check"] == WRITES
        assert _refusal(cause)["kind"] == "locked"
        holders = cause["evidence"]["lock_holders"]
        assert holders, cause
        if dialect == "sqlite":
            assert holders[0]["pid"] == holder.pid
            subprocess.run(cause["fix"].split("or: ", 1)[1], shell=True, check=True)
            holder.wait(timeout=10)
            env.sql("SELECT 1")  # the killed holder's empty -wal/-shm: any next client removes them
        else:
            env.sql(fix_sql(cause))
    finally:
        _release(holder)
    env.passes()


def _hold_lock(env: FaultEnv) -> subprocess.Popen[str]:
    """Another process holds a write lock on scrape_jobs until killed."""
    script = {
        "sqlite": "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('BEGIN IMMEDIATE')",
        "postgresql": "import sys; from sqlalchemy import create_engine, text; "
        "c=create_engine(sys.argv[1]).connect(); c.execute(text('BEGIN')); "
        "c.execute(text('LOCK TABLE scrape_jobs IN SHARE MODE'))",
        "mysql": "import sys; from sqlalchemy import create_engine, text; "
        "c=create_engine(sys.argv[1]).connect(); c.execute(text('LOCK TABLES scrape_jobs READ'))",
    }[make_url(env.url).get_backend_name()]
    target = make_url(env.url).database if env.dialect == "sqlite" else env.url
    proc = subprocess.Popen(
        [sys.executable, "-c", script + "; print('locked', flush=True); sys.stdin.read()", target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=env.root.parent,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _pg_role(env: FaultEnv, prefix: str, *then: str) -> tuple[str, str]:
    """A new PostgreSQL login role with the service's table and sequence privileges, then the
    statements `then` (`{role}` in them is its name) -> (the role, its URL)."""
    role = f"{prefix}_{uuid.uuid4().hex[:8]}"
    env.sql(
        f'CREATE ROLE "{role}" LOGIN',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        *(statement.format(role=role) for statement in then),
    )
    return role, make_url(env.url).set(username=role).render_as_string(hide_password=False)


def _cut_while_locked(env: FaultEnv, url: str) -> tuple[dict, dict]:
    """The doctor's cause while another session holds scrape_jobs, so that the probe's write
    waits until a time limit of the account's or role's cuts it: that cut, named."""
    holder = _hold_lock(env)
    try:
        cause = env.cause(url=url)
    finally:
        _release(holder)
    assert cause["check"] == WRITES
    refusal = _refusal(cause)
    assert refusal["kind"] == "statement_timeout", refusal
    return cause, refusal


def _served_while_locked(env: FaultEnv, url: str) -> Symptom:
    """What a running service shows while another session holds scrape_jobs."""
    with env.service(url) as symptom:
        holder = _hold_lock(env)
        try:
            return symptom()
        finally:
            _release(holder)


def _release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_extra_not_null_column_fails_every_insert_and_migrate_relaxes_it(
    env_factory, dialect: str
) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    if dialect == "sqlite":  # SQLite adds NOT NULL columns only with a default: rebuild
        _sqlite_add_not_null(env)
    else:
        env.sql("ALTER TABLE scrape_jobs ADD COLUMN tenant VARCHAR(20) NOT NULL")
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "not_null" and _refusal(cause)["column"] == "tenant"
    assert "every insert" in cause["summary"]
    assert cause["fix"] == "ops migrate" and cause["heal"] == "migrate"
    result = CliRunner().invoke(main, ["migrate", "--database-url", env.url])
    assert result.exit_code in (0, 1), result.output  # 1: the extra column itself remains
    env.passes()


INDEXES = (
    "SELECT sql FROM sqlite_master WHERE tbl_name = 'scrape_jobs' AND sql LIKE 'CREATE INDEX%'"
)


def _sqlite_add_not_null(env: FaultEnv) -> None:
    """Rebuild scrape_jobs with an extra NOT NULL column, as a hand-made migration would."""
    ddl = env.sql("SELECT sql FROM sqlite_master WHERE name = 'scrape_jobs'")
    new = ddl.replace("(", "(\n\ttenant VARCHAR(20) NOT NULL,", 1)
    engine = env.admin()
    try:
        with engine.begin() as conn:
            indexes = [row[0] for row in conn.execute(text(INDEXES))]
            conn.execute(text("DROP TABLE scrape_jobs"))
            conn.execute(text(new))
            for index in indexes:
                conn.execute(text(index))
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_trigger_refusing_rows_is_named_and_dropped(env_factory, dialect: str) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    if dialect == "sqlite":
        env.sql(
            "CREATE TRIGGER freeze_jobs BEFORE INSERT ON scrape_jobs "
            "BEGIN SELECT RAISE(ABORT, 'jobs are frozen'); END"
        )
    elif dialect == "postgresql":
        env.sql(
            "CREATE FUNCTION freeze() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'jobs are frozen'; END $$",
            "CREATE TRIGGER freeze_jobs BEFORE INSERT ON scrape_jobs "
            "FOR EACH ROW EXECUTE FUNCTION freeze()",
        )
    else:
        env.sql(
            "CREATE TRIGGER freeze_jobs BEFORE INSERT ON scrape_jobs FOR EACH ROW "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'jobs are frozen'"
        )
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "trigger"
    assert cause["evidence"]["triggers"] == ["freeze_jobs"]
    assert "jobs are frozen" in cause["summary"]
    env.sql(fix_sql(cause))
    env.passes()


def test_check_constraint_refusing_pending_is_dropped(server_env: FaultEnv) -> None:
    env = server_env
    env.sql("ALTER TABLE scrape_jobs ADD CONSTRAINT ck_no_pending CHECK (status <> 'pending')")
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "check" and _refusal(cause)["constraint"] == "ck_no_pending"
    assert "pending" in (cause["evidence"]["definition"] or "")
    env.sql(fix_sql(cause))
    env.passes()


@pytest.mark.slow
def test_narrowed_varchar_is_widened_by_migrate(server_env: FaultEnv) -> None:
    env = server_env
    if env.dialect == "postgresql":
        env.sql("ALTER TABLE scrape_jobs ALTER COLUMN query TYPE VARCHAR(3)")
    else:
        env.sql("ALTER TABLE scrape_jobs MODIFY query VARCHAR(3) NOT NULL")
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "value_too_long"
    assert _refusal(cause)["sqlstate"] == "22001" or _refusal(cause)["errno"] == 1406
    assert cause["heal"] == "migrate"
    code, healed = env.doctor("--heal")
    assert code == 0 and [a["action"] for a in healed["heal"]["actions"]] == ["migrate"]
    env.passes()


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_unexpected_unique_index_is_named_and_dropped(env_factory, dialect: str) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    env.sql(
        "INSERT INTO scrape_jobs (id, job_type, status, progress, query, max_content, "
        "safe_search, enabled_sources, attempts, downloaded, bytes_downloaded, created_at, "
        "updated_at) VALUES ('00000000-0000-4000-8000-000000000001', 'search', 'pending', 0, "
        "'q', 1, true, '[\"selftest\"]', 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    env.sql("CREATE UNIQUE INDEX uq_one_per_status ON scrape_jobs (status)")
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "unique"
    assert cause["evidence"]["constraint"] == "uq_one_per_status"
    env.sql(fix_sql(cause))
    env.passes()


def test_foreign_key_to_a_table_the_service_never_fills(server_env: FaultEnv) -> None:
    env = server_env
    env.sql(
        "CREATE TABLE allowed_sources (name VARCHAR(32) PRIMARY KEY)",
        "ALTER TABLE assets ADD CONSTRAINT fk_assets_allowed FOREIGN KEY (source) "
        "REFERENCES allowed_sources (name)",
    )
    cause = env.cause()
    assert cause["check"] == WRITES
    assert _refusal(cause)["kind"] == "foreign_key"
    assert cause["evidence"]["constraint"] == "fk_assets_allowed"
    assert cause["evidence"]["refused_write"] == "insert asset"
    env.sql(fix_sql(cause))
    env.passes()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_dropped_column_is_a_schema_cause_with_the_probe_refusal(env_factory, dialect: str) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    env.sql("ALTER TABLE scrape_jobs DROP COLUMN message")
    cause = env.cause()
    assert cause["check"] == "schema:in_sync"
    assert cause["evidence"]["write_probe_refusal"]["kind"] == "unknown_column"
    assert cause["fix"] == "ops migrate" and cause["heal"] == "migrate"
    code, _ = env.doctor("--heal")
    assert code == 0
    env.passes()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_missing_table_is_named_and_migrate_creates_it(env_factory, dialect: str) -> None:  # type: ignore[no-untyped-def]
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.sql("DROP TABLE worker_heartbeats")
    cause = env.cause()
    assert cause["check"] == "schema:in_sync"
    assert cause["evidence"]["write_probe_refusal"]["kind"] == "missing_table"
    assert cause["evidence"]["write_probe_refusal"]["table"] == "worker_heartbeats"
    result = CliRunner().invoke(main, ["migrate", "--database-url", env.url])
    assert result.exit_code == 0, result.output
    env.passes()


@pytest.mark.slow
@pytest.mark.mariadb
def test_mariadb_statement_time_limit_on_the_account_is_named_and_lifted(env_factory) -> None:  # type: ignore[no-untyped-def]
    """`ALTER USER … WITH MAX_STATEMENT_TIME` below a write's time: the write is cut."""
    env: FaultEnv = env_factory("mariadb")
    env.init()
    env.live_worker()
    user, url, drop = _mariadb_user(env, "ALL PRIVILEGES")
    try:
        # The limit a write's lock wait outlasts (a backup holding the table), as in the field:
        # the writes take far less than 0.2 s, only a wait makes it bite.
        env.sql(f"ALTER USER '{user}'@'%' WITH MAX_STATEMENT_TIME 0.2")
        seen = _served_while_locked(env, url)  # the limit holds from the service's (re)start
        # The web request's own bound (SCRAPER_WEB_STATEMENT_TIMEOUT, 10 s) cuts the job
        # insert waiting for the table: held. The worker's claims meet the account's limit, and
        # so does /readyz's probe, which names it.
        assert seen.held and "max_statement_time" in seen.job["refusal"], seen
        failing = seen.failing()
        assert f"set for the account {user}@%" in failing.get(WRITES, ""), failing
        assert "after 0.2 s" in failing[WRITES], failing
        assert "max_statement_time" in failing.get("worker:heartbeat", ""), failing
        cause, refusal = _cut_while_locked(env, url)
        assert refusal["errno"] == 1969, refusal
        assert "max_statement_time" in cause["summary"] and f"account {user}@%" in cause["summary"]
        assert fix_sql(cause) == f"ALTER USER '{user}'@'%' WITH MAX_STATEMENT_TIME 0"
        subprocess.run(cause["fix"], shell=True, check=True, capture_output=True, timeout=30)
        env.take_back()
        env.passes(url=url)
    finally:
        env.sql(*drop)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_statement_timeout_on_the_role_is_named_and_reset(env_factory) -> None:  # type: ignore[no-untyped-def]
    """`ALTER ROLE … SET statement_timeout` below the service's lock wait: while a long
    transaction holds scrape_jobs (a backup, a batch), every job write is canceled (57014)
    instead of waiting. The probe keeps the role's stricter limit instead of its own bound,
    so the doctor names the role's setting (the writes take well under PostgreSQL's 1 ms
    minimum: only a wait makes the limit bite, in the field as here)."""
    env: FaultEnv = env_factory("postgresql")
    env.init()
    env.live_worker()
    role, url = _pg_role(env, "st", "ALTER ROLE \"{role}\" SET statement_timeout = '300ms'")
    try:
        seen = _served_while_locked(env, url)
        # The web request bounds its own statements (SCRAPER_WEB_STATEMENT_TIMEOUT, above the
        # role's): the job insert waits out the lock timeout and is held. The worker's claims
        # run under the role's limit and are cut; /readyz's probe runs as they do and names it.
        assert seen.held and "lock timeout" in seen.job["refusal"], seen
        failing = seen.failing()
        assert f"set for the role {role}" in failing.get(WRITES, ""), failing
        assert "statement timeout" in failing.get("worker:heartbeat", ""), failing
        cause, refusal = _cut_while_locked(env, url)
        assert refusal["sqlstate"] == "57014", refusal
        assert f"set for the role {role}" in cause["summary"], cause["summary"]
        assert fix_sql(cause) == f'ALTER ROLE "{role}" RESET statement_timeout'
        env.sql(fix_sql(cause))
        env.take_back()
        env.passes(url=url)
    finally:
        env.sql(f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"')


@pytest.mark.slow
@pytest.mark.mariadb
def test_mariadb_latin1_table_refusing_an_emoji_is_converted_to_utf8mb4(env_factory) -> None:  # type: ignore[no-untyped-def]
    """Columns made latin1 (by hand, or by a server whose default was latin1): the probe's
    query holds an emoji; every table with such a column is converted by the one command."""
    env: FaultEnv = env_factory("mariadb")
    env.init()
    env.live_worker()
    env.sql(
        "ALTER TABLE scrape_jobs MODIFY query VARCHAR(500) CHARACTER SET latin1 NOT NULL",
        "ALTER TABLE job_attempts MODIFY message VARCHAR(500) CHARACTER SET latin1",
    )
    tables = ["job_attempts", "scrape_jobs"]
    with env.service() as symptom:
        seen = symptom()
    assert seen.held and "Incorrect string value" in seen.job["refusal"], seen
    code, report = env.doctor()
    writes = next(c for c in report["checks"] if c["name"] == WRITES)
    assert code == 1 and writes["status"] == "fail", writes
    assert "scrape_jobs.query is in character set latin1" in writes["output"], writes["output"]
    assert "--allow-destructive" not in json.dumps(report)
    sql = writes["evidence"]["sql"]
    for table in tables:
        assert f"`.`{table}` CONVERT TO CHARACTER SET utf8mb4" in sql, sql
    subprocess.run(writes["fix"], shell=True, check=True, capture_output=True, timeout=60)
    env.take_back()
    env.passes()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_role_that_cannot_use_the_schema_gets_grant_usage_not_new_tables(env_factory) -> None:  # type: ignore[no-untyped-def]
    """The tables exist and the role holds its table privileges, but not USAGE on their schema
    (PostgreSQL 15 took it from PUBLIC in new databases' schemas): every statement is refused.
    The fix is the grant, never a second set of tables."""
    env: FaultEnv = env_factory("postgresql")
    env.init()
    env.live_worker()
    role, url = _pg_role(
        env,
        "nousage",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"',  # "$user" leads the search_path
    )
    try:
        with env.service(url, SCRAPER_AUTO_HEAL="safe") as symptom:  # repairs at start and on
            seen = symptom()
        # the token lookup is the first statement: the API answers 503 with PostgreSQL's words
        assert seen.created == 503 and '"api_tokens" does not exist' in seen.job["message"], seen
        failing = seen.failing()
        assert seen.ready == 503 and f"'{role}' lacks USAGE on public" in failing[WRITES], seen
        assert "look missing" in failing["schema:in_sync"], failing  # not "run init-db"
        assert "init-db" not in json.dumps(seen.readiness), seen.readiness
        # the served start-up repair and self-healing built nothing beside the hidden tables
        assert env.sql(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{role}'") == 0
        engine = make_engine(url, poolclass=NullPool)
        try:  # the start-up repair (and self-healing) as this role builds nothing
            repair = auto_heal(engine)
        finally:
            engine.dispose()
        assert {(r.table, r.kind) for r in repair.refused} >= {("scrape_jobs", "hidden_table")}
        assert not repair.applied
        assert env.sql(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{role}'") == 0
        code, report = env.doctor(url=url)
        writes = next(c for c in report["checks"] if c["name"] == WRITES)
        assert code == 1 and writes["status"] == "fail", writes
        assert f"'{role}' lacks USAGE on public" in writes["output"], writes["output"]
        assert writes["heal"] is None, writes  # not ops migrate: no tables beside the data
        assert writes["evidence"]["grant"] == f'GRANT USAGE ON SCHEMA "public" TO "{role}";'
        assert "init-db" not in json.dumps(report), report  # nor in any other check's fix
        env.sql(writes["evidence"]["grant"])
        env.passes(url=url)
    finally:
        env.sql(f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"')
