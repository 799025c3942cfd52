"""The write probe: the service's own writes, replayed in one transaction that is rolled back.

A database can pass every read-only check and still refuse the writes the service makes (a
SELECT-only role, a read-only database, a lock, a trigger, an extra NOT NULL column, a column
dropped by hand). The probe does not keep a list of columns beside the models: it calls the
service's own write paths (`JobStore.insert` with a job whose every column holds a value,
the claim update from `claim_values`, `JobStore.progress`, the fenced `add_assets`,
`JobStore.complete`, `record_attempt`, the heartbeat upsert, `open_session`,
`record_failure`), each bound to one connection whose outer transaction is always rolled
back (every service transaction becomes a savepoint inside it), then reads every table it
wrote (the service reads them all; a role may write a table it cannot read). A column the
models gain is written by the probe because the service writes it. The report says what the
writes covered: tables, columns, and the privileges they took (INSERT / UPDATE / DELETE per
table from the SQL sent, SELECT on each).

Nothing it writes survives, counters included: a row whose id the database would draw from a
sequence (PostgreSQL) or an AUTO_INCREMENT counter (MariaDB) gets a negative id of the probe's
own, because a rolled-back `nextval` is not rolled back. MariaDB is the exception it needs: a
table whose counter drew exactly one id (AUTO_INCREMENT 2: a fresh install's one admin, its
first asset) moves to 3 on any explicit non-positive id, rolled back or not (measured on
10.11: -1, -1000, and 0 under NO_AUTO_VALUE_ON_ZERO alike; a positive id below the counter
does not move it, but there the only one is taken; at 1, 3, 5 ids drawn -1 moves nothing; the
MariaDB AUTO_INCREMENT FAQ: a negative number counts as a very large positive one). In that
state the probe's row is an INSERT ... SELECT of no row instead: the privilege and the columns
are checked, the engine never draws (`CounterWouldMove`). What the real `nextval` needs is
checked instead: on PostgreSQL `has_sequence_privilege(<the column's sequence>, 'USAGE')` for
every such table the service's writes insert into; without it the probe draws the value and
reports the database's own refusal (42501, "permission denied for sequence ..."). On SQLite
the file is opened `mode=rw` (never created) in a connection of its own.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Insert

from healthchecks.refusal import Refusal, classify
from scraper.accounts.logins import record_failure
from scraper.accounts.sessions import open_session
from scraper.db import unbounded
from scraper.jobs.history import record_attempt
from scraper.jobs.record import JobRecord
from scraper.jobs.store import JobStore
from scraper.jobs.workers import HB
from scraper.models import (
    Asset,
    JobStatus,
    ScrapeJob,
    User,
    UserSession,
    claim_values,
    utcnow,
)

LOCK_TIMEOUT_MS = 1500
PROBE_WORKER = "ops-doctor-probe"
LEASE_SECONDS = 60


@dataclass(frozen=True)
class ProbeStep:
    """One write the service makes, and what the database did with it."""

    name: str
    table: str
    ok: bool
    refusal: Refusal | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "write": self.name,
            "table": self.table,
            "ok": self.ok,
            "refusal": self.refusal.to_json() if self.refusal else None,
            "skipped": self.skipped,
        }


@dataclass
class ProbeReport:
    """Every write tried; `refusal` is the first the database refused (None: all accepted)."""

    steps: list[ProbeStep] = field(default_factory=list)
    elapsed_ms: float = 0.0
    # What the accepted writes covered: table -> the columns they set (from the SQL sent).
    coverage: dict[str, set[str]] = field(default_factory=dict)
    # table -> the statements it took (INSERT, UPDATE, DELETE; an upsert is both of the first
    # two), and SELECT: the service reads every table it writes.
    verbs: dict[str, set[str]] = field(default_factory=dict)
    sequences_checked: set[str] = field(default_factory=set)

    def coverage_json(self) -> dict[str, Any]:
        return {
            "tables": {table: sorted(cols) for table, cols in sorted(self.coverage.items())},
            "columns": sum(len(cols) for cols in self.coverage.values()),
            "privileges": {t: sorted(v | {"SELECT"}) for t, v in sorted(self.verbs.items())},
            "sequence_privileges_checked": sorted(self.sequences_checked),
        }

    @property
    def refusal(self) -> Refusal | None:
        return next((s.refusal for s in self.steps if s.refusal is not None), None)

    @property
    def refused(self) -> list[ProbeStep]:
        return [s for s in self.steps if s.refusal is not None]


class NotWritten(RuntimeError):
    """A guarded service write matched no row: the probe's own job was not there to update."""


class CounterWouldMove(RuntimeError):
    """MariaDB: any row the probe inserts into `table` moves its AUTO_INCREMENT counter."""

    def __init__(self, table: Table) -> None:
        super().__init__(f"{table.name}: AUTO_INCREMENT has drawn one id")
        self.table = table


@dataclass
class ProbeRun:
    """The service's write paths, bound to the probe's connection, and what earlier steps made."""

    conn: Connection
    ids: dict[str, Any]
    written: dict[str, set[str]] = field(default_factory=dict)  # the report's coverage so far
    session: sessionmaker[Session] = field(init=False)
    store: JobStore = field(init=False)
    token: int | None = None
    user_id: int | None = None
    next_id: int = -1
    sequences_checked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Each `with Session() as s, s.begin()` of the service becomes a savepoint inside the
        # probe's transaction: its commit is released into it, never committed.
        self.session = sessionmaker(bind=self.conn, join_transaction_mode="create_savepoint")
        event.listen(self.session, "before_flush", self._own_ids)
        event.listen(self.session, "do_orm_execute", self._own_core_ids)
        self.store = JobStore(self.session)

    def _own_ids(self, session: Session, _flush: UOWTransaction, _instances: Any) -> None:
        """Give each new row the database would number a negative id of the probe's own (no
        counter advances), after checking the privilege the real numbering needs."""
        for obj in session.new:
            pk = inspect(obj).mapper.primary_key
            if len(pk) != 1 or not isinstance(pk[0].type, Integer):
                continue
            if getattr(obj, pk[0].key) is None:
                setattr(obj, pk[0].key, self._draw(pk[0]))

    def _own_core_ids(self, state: ORMExecuteState) -> Any:
        """The same for the rows a service write inserts as a Core statement with its values
        as parameters (`s.execute(insert(table), rows)`): each gets an id of the probe's own."""
        if not state.is_insert or not state.parameters:
            return None
        table: Table = cast(Insert, state.statement).table  # type: ignore[assignment]
        pk = list(table.primary_key)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            return None
        params: Any = state.parameters
        rows: list[dict[str, Any]] = params if state.is_executemany else [params]
        own = [{pk[0].key: self._draw(pk[0])} for row in rows if row.get(pk[0].key) is None]
        if len(own) != len(rows):
            return None  # the service numbers them itself
        return state.invoke_statement(params=own if state.is_executemany else own[0])

    def _draw(self, column: Any) -> int:
        """A negative id of the probe's own, once the privilege the real numbering needs holds."""
        check_sequence(self.conn, column.table.name, column.name, self.sequences_checked)
        if self.conn.dialect.name == "mysql" and _one_id_drawn(self.conn, column.table.name):
            raise CounterWouldMove(column.table)
        self.next_id -= 1
        return self.next_id + 1

    @property
    def job(self) -> str:
        return str(self.ids["job"])

    @property
    def worker(self) -> str:
        return str(self.ids["worker"])


Write = Callable[[ProbeRun], None]


def probe_job(job_id: str) -> JobRecord:
    """A job as `JobService.create` makes it, with every column holding a value.

    Texts are as long as the API lets them be, so a narrowed column refuses here, and hold a
    character outside the Basic Multilingual Plane (an emoji, as users type them), so a column
    in a character set that cannot store it (latin1, MySQL's 3-byte utf8) refuses; the columns
    a new job leaves empty get a value too, so the insert names every column of the table.
    """
    now = utcnow()
    return JobRecord(
        id=job_id,
        query="🦊 " + "q" * 498,  # the longest query the API accepts, with what users type
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        user_id=None,  # sent as NULL: no user row needed
        job_type="search",
        status=JobStatus.PENDING,
        progress=0,
        message="m" * 500,
        error="probe",
        downloaded=0,
        bytes_downloaded=0,
        result={"selftest": {"found": 0}},
        attempts=0,
        lease_token=0,
        locked_by=None,
        lease_expires_at=None,
        run_after=datetime(2000, 1, 1, tzinfo=UTC),
        created_at=now,
        updated_at=now,
        started_at=None,
        finished_at=None,
    )


def _insert_job(run: ProbeRun) -> None:
    run.store.insert(probe_job(run.job))


def _claim_job(run: ProbeRun) -> None:
    """The worker's claim update (the same `claim_values`), aimed at the probe's own job."""
    with run.session() as s, s.begin():
        values = claim_values(run.worker, LEASE_SECONDS, utcnow())
        s.execute(update(ScrapeJob).where(ScrapeJob.id == run.job).values(**values))
        run.token = s.scalar(select(ScrapeJob.lease_token).where(ScrapeJob.id == run.job))


def check_sequence(conn: Connection, table: str, column: str, checked: set[str]) -> None:
    """PostgreSQL: may this role draw the ids of `table.column`? Without USAGE the real draw
    is made, so that the refusal is the database's own (a draw that fails advances nothing).
    """
    if conn.dialect.name != "postgresql" or table in checked:
        return
    checked.add(table)
    sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column})
    if sequence is None:
        return  # no sequence behind the column: the service supplies its ids itself
    allowed = conn.scalar(text("SELECT has_sequence_privilege(:s, 'USAGE')"), {"s": sequence})
    if not allowed:
        conn.scalar(text("SELECT nextval(:s)"), {"s": sequence})


def _one_id_drawn(conn: Connection, table: str) -> bool:
    """MariaDB: the table's AUTO_INCREMENT counter stands at 2 (see the module's note)."""
    counter = conn.scalar(
        text(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
        ),
        {"t": table},
    )
    return counter == 2


def _insert_no_row(conn: Connection, table: Table) -> None:
    """INSERT ... SELECT of no row with every column: the database checks the privilege and
    the columns as for a real insert, and no row reaches the engine (no counter moves)."""
    columns = ", ".join(_quoted(conn, c.name) for c in table.columns)
    nulls = ", ".join("NULL" for _ in table.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {_quoted(conn, table.name)} ({columns}) SELECT {nulls} FROM DUAL WHERE 1 = 0"
    )


def _owned(written: bool, what: str) -> None:
    if not written:
        raise NotWritten(f"{what} matched no row of the probe's own job")


def _lease(run: ProbeRun) -> None:
    _owned(run.store.heartbeat(run.job, run.worker, LEASE_SECONDS, run.token), "lease renewal")


def _progress(run: ProbeRun) -> None:
    written = run.store.progress(
        run.job,
        run.worker,
        run.token,
        message="m" * 500,
        progress=50,
        downloaded=1,
        bytes_downloaded=2**40,  # BigInteger: a narrowed column refuses here
        result={"selftest": {"found": 1, "stored": 1}},
    )
    _owned(written, "progress update")


def probe_asset(job_id: str) -> Asset:
    """An asset row as `asset_row` makes it, every column at its longest."""
    return Asset(
        job_id=job_id,
        source="s" * 32,
        url="https://example.org/" + "u" * 2028,
        path="ab/" + "0" * 64 + ".png" + "p" * 441,
        filename="f" * 255,
        sha256="0" * 64,
        size_bytes=2**40,
        content_type="c" * 128,
        title="t" * 500,
        license="l" * 128,
        author="a" * 255,
        landing_url="https://example.org/" + "l" * 2028,
        created_at=utcnow(),
    )


def _insert_asset(run: ProbeRun) -> None:
    written = run.store.add_assets(run.worker, run.token, [probe_asset(run.job)])
    _owned(not written.refused and bool(written.inserted), "asset insert")
    with run.session() as s:  # read back by id, as the API reads it
        _owned(s.scalar(select(Asset.id).where(Asset.job_id == run.job)) is not None, "asset id")


def _complete(run: ProbeRun) -> None:
    _owned(run.store.complete(run.job, run.worker, "m" * 500, run.token), "completion")


def _attempt_history(run: ProbeRun) -> None:
    record = run.store.get(run.job)
    if record is None:
        raise NotWritten("the probe's own job is gone before its attempt could be recorded")
    record.locked_by = run.worker
    record_attempt(run.session, record)


def _beat(run: ProbeRun) -> None:
    """The heartbeat upsert as `scraper.worker.heartbeats.beat` makes it (insert, then update)."""
    now = utcnow()
    values = dict(
        last_seen_at=now, current_jobs=0, jobs_done=0, state="running", last_error="e" * 500
    )
    with run.session() as s, s.begin():
        s.execute(update(HB).where(HB.c.id == run.worker).values(**values))
        s.execute(
            insert(HB).values(id=run.worker, hostname="h" * 255, pid=0, started_at=now, **values)
        )
        s.execute(update(HB).where(HB.c.id == run.worker).values(**values))


def _insert_user(run: ProbeRun) -> None:
    with run.session() as s, s.begin():
        user = User(username=f"probe-{uuid.uuid4().hex[:24]}", password_hash="h" * 255)
        s.add(user)
        s.flush()
        run.user_id = user.id


def _open_session(run: ProbeRun) -> None:
    user_id = run.user_id
    if user_id is None:  # the user insert checked without a row (CounterWouldMove): one there
        user_id = run.conn.scalar(select(User.id).order_by(User.id).limit(1))
    if user_id is None:  # none at all: the session's insert is checked without a row too
        _insert_no_row(run.conn, cast(Table, UserSession.__table__))
        return
    open_session(run.session, user_id)


def _login_attempt(run: ProbeRun) -> None:
    record_failure(run.session, "probe-" + "n" * 74, "203.0.113.1")


def _read_back(run: ProbeRun) -> None:
    """The service reads every table it writes (lists, sign-in throttle, sessions, the Health
    panel): a role that may write a table but not read it is refused here, by the database."""
    for table in sorted(run.written):
        run.conn.exec_driver_sql(f"SELECT 1 FROM {_quoted(run.conn, table)} WHERE 1 = 0").all()


def _quoted(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


# Each group is one transaction: a later write needs the earlier ones (the asset, its job).
GROUPS: list[list[tuple[str, str, Write]]] = [
    [
        ("insert job", "scrape_jobs", _insert_job),
        ("claim job", "scrape_jobs", _claim_job),
        ("renew lease", "scrape_jobs", _lease),
        ("progress", "scrape_jobs", _progress),
        ("insert asset", "assets", _insert_asset),
        ("complete job", "scrape_jobs", _complete),
        ("attempt history", "job_attempts", _attempt_history),
    ],
    [("heartbeat upsert", "worker_heartbeats", _beat)],
    [
        ("insert user", "users", _insert_user),
        ("open session", "user_sessions", _open_session),
    ],
    [("login attempt", "login_attempts", _login_attempt)],
    [("read back", "every table written", _read_back)],
]


def probe_writes(engine: Engine, url: str | None = None) -> ProbeReport:
    """Make the service's writes against `engine` (SQLite: the file `url` names), roll back."""
    started = time.perf_counter()
    report = ProbeReport()
    ids = {"job": str(uuid.uuid4()), "worker": f"{PROBE_WORKER}:{uuid.uuid4().hex[:12]}"}
    # Not under a web request's own bound (`/readyz`): the worker's writes run without it,
    # under the role's or account's limit (PostgreSQL statement_timeout, MariaDB
    # max_statement_time), which the probe must meet as they do (issue 29).
    with unbounded(), _probe_engine(engine, url) as target:
        for group in GROUPS:
            report.steps.extend(_run_group(target, group, ids, report))
    report.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return report


def _run_group(
    engine: Engine, group: list[tuple[str, str, Write]], ids: dict[str, Any], report: ProbeReport
) -> list[ProbeStep]:
    steps: list[ProbeStep] = []
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                _short_lock_wait(conn)
                run = ProbeRun(
                    conn, ids, written=report.coverage, sequences_checked=report.sequences_checked
                )
                event.listen(conn, "after_cursor_execute", _covered(report))
                for name, table, write in group:
                    if steps and not steps[-1].ok:
                        steps.append(ProbeStep(name, table, False, skipped=steps[-1].name))
                        continue
                    steps.append(_attempt(run, name, table, write))
            finally:
                trans.rollback()
                _restore_lock_wait(conn)
    except Exception as exc:  # cannot even connect: the connection is the refusal
        if not steps:
            name, table, _ = group[0]
            steps.append(ProbeStep(name, table, False, classify(exc)))
    return steps


_INSERT = re.compile(r'^\s*INSERT INTO "?(\w+)"?\s*\(([^)]*)\)', re.I)
_UPDATE = re.compile(r'^\s*UPDATE "?(\w+)"?\s+SET\s+(.*?)\s+WHERE\s', re.I | re.S)
_SET_ITEM = re.compile(r'^"?(\w+)"?\s*=')
_DELETE = re.compile(r'^\s*DELETE FROM "?(\w+)"?', re.I)
_UPSERT = re.compile(r"\bON (?:CONFLICT\b.*\bDO UPDATE|DUPLICATE KEY UPDATE)\b", re.I | re.S)


def _covered(report: ProbeReport) -> Callable[..., None]:
    """An after_cursor_execute listener noting the table, columns and verb of each write."""

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = _INSERT.match(statement)
        if found:
            columns = [c.strip().strip('"`') for c in found.group(2).split(",")]
            verbs = {"INSERT", "UPDATE"} if _UPSERT.search(statement) else {"INSERT"}
        else:
            found = _UPDATE.match(statement)
            if found:
                parts = (_SET_ITEM.match(p.strip()) for p in found.group(2).split(","))
                columns, verbs = [m.group(1) for m in parts if m], {"UPDATE"}
            else:
                found = _DELETE.match(statement)
                if not found:
                    return
                columns, verbs = [], {"DELETE"}
        table = found.group(1).strip("`")
        report.coverage.setdefault(table, set()).update(c for c in columns if c)
        report.verbs.setdefault(table, set()).update(verbs)

    return note


def _attempt(run: ProbeRun, name: str, table: str, write: Write) -> ProbeStep:
    try:
        try:
            write(run)
        except CounterWouldMove as risk:
            _insert_no_row(run.conn, risk.table)
    except Exception as exc:  # the refusal is the measurement
        return ProbeStep(name, table, False, classify(exc))
    return ProbeStep(name, table, True)


def _short_lock_wait(conn: Connection) -> None:
    """Wait at most LOCK_TIMEOUT_MS for a lock: a held lock is a finding, not a hang."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # One round trip. A stricter statement_timeout of the role's, the database's or the
        # server's stays: it cuts the service's own writes, so it must cut the probe's (issue 29)
        cap = LOCK_TIMEOUT_MS * 4
        conn.exec_driver_sql(
            f"SELECT set_config('lock_timeout', '{LOCK_TIMEOUT_MS}ms', true), "
            "set_config('statement_timeout', CASE WHEN ms = 0 OR ms > "
            f"{cap} THEN '{cap}ms' ELSE ms || 'ms' END, true) "
            "FROM (SELECT setting::bigint AS ms FROM pg_settings "
            "WHERE name = 'statement_timeout') AS current"
        )
    elif dialect == "sqlite":
        # pysqlite begins a transaction only before a DML statement; the savepoints the
        # service's sessions become would otherwise start (and on release commit) their own.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN")
    elif dialect == "mysql":
        seconds = max(1, LOCK_TIMEOUT_MS // 1000)
        conn.exec_driver_sql(
            f"SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
        )


def _restore_lock_wait(conn: Connection) -> None:
    if conn.dialect.name == "mysql" and not conn.invalidated:
        try:
            conn.exec_driver_sql(
                "SET SESSION innodb_lock_wait_timeout = DEFAULT, lock_wait_timeout = DEFAULT"
            )
        except Exception:  # a pooled connection in doubt is discarded instead
            conn.invalidate()


@contextmanager
def _probe_engine(engine: Engine, url: str | None) -> Iterator[Engine]:
    """Servers: the engine itself. SQLite: a connection of its own that never creates the file."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield engine  # an in-memory database lives only in the engine's own connection
        return
    probe = create_engine(
        writable_sqlite_url(url or engine.url.render_as_string()), poolclass=NullPool
    )
    event.listen(probe, "connect", _sqlite_probe_pragmas)
    try:
        yield probe
    finally:
        probe.dispose()


def _sqlite_probe_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # as the service's connections have it
    cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
    cursor.close()


def writable_sqlite_url(url: str) -> str:
    """`sqlite:///path` as a `mode=rw` URI: opens for writing, fails rather than create the file.

    A URL that already names a mode (say `mode=ro`) is kept: the probe must see what the
    service sees.
    """
    parsed = make_url(url)
    if "mode" in parsed.query or parsed.database in (None, "", ":memory:"):
        return url
    path = Path(parsed.database or "").absolute()
    return f"sqlite:///file:{path}?mode=rw&uri=true"
