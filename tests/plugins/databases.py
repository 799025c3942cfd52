"""Test databases: each schema built once per dialect per session, each test given a clean copy.

Building the schema (create_all, or init_db with its Alembic stamp) costs 0.4-2.5 s on a
server; copying it costs far less, so the copy is what each test pays:

- SQLite: the template file is copied into the test's tmp_path.
- PostgreSQL and MariaDB: one database per flavour per session (per xdist worker) is reused,
  emptied after each test of the tables it wrote (PostgreSQL: TRUNCATE … RESTART IDENTITY;
  MariaDB: DELETE). A test that changed its schema (drift tests drop columns and indexes,
  revoke privileges, add triggers) or left a lock behind is noticed by a fingerprint of the
  catalogue, and that database is dropped; the next is a `CREATE DATABASE … TEMPLATE` copy
  on PostgreSQL (WAL_LOG strategy: no checkpoint), a fresh build on MariaDB.

Every name carries a per-session token, so xdist workers and parallel runs never share one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text

from ops.schema.extras import declared_tables
from scraper.migrations.manage import init_db
from scraper.models import Base

SERVER_URLS = {
    "postgresql": os.environ.get(
        "SCRAPER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "SCRAPER_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}

# The schemas a test can start from: none, the models' tables, or `ops init-db`'s result.
FLAVOURS: dict[str, Callable[[Engine], object]] = {
    "models": Base.metadata.create_all,
    "initialized": init_db,
}

_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


@functools.cache
def probe(kind: str) -> str | None:
    """Why the server of this kind cannot be used, or None when it answers."""
    engine = create_engine(SERVER_URLS[kind])
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{kind} is not reachable at {engine.url.render_as_string()}: {exc}"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def _admin(kind: str) -> Iterator[Connection]:
    """An autocommit connection to the server's maintenance database."""
    engine = create_engine(SERVER_URLS[kind], isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if kind == "mariadb":
                conn.execute(text("SET SESSION lock_wait_timeout = 10"))
            yield conn
    finally:
        engine.dispose()


def _url(kind: str, name: str) -> str:
    return create_engine(SERVER_URLS[kind]).url.set(database=name).render_as_string(False)


def _build(url: str, flavour: str) -> None:
    engine = create_engine(url)
    try:
        FLAVOURS[flavour](engine)
    finally:
        engine.dispose()


class DatabasePool:
    """The session's templates, and the databases handed to tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = uuid.uuid4().hex[:8]
        self.created: dict[str, list[str]] = {"postgresql": [], "mariadb": []}
        self.spare: dict[tuple[str, str], str] = {}  # (kind, flavour) -> a clean database
        self.fingerprints: dict[tuple[str, str], str] = {}

    # --- names -----------------------------------------------------------------------
    def _new_name(self, prefix: str) -> str:
        return f"{prefix}_{self.token}_{uuid.uuid4().hex[:8]}"

    def _create(self, kind: str, name: str, template: str | None = None) -> None:
        sql = f"CREATE DATABASE {name}"
        if kind == "mariadb":
            sql += " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        elif template:
            sql += f" TEMPLATE {template} STRATEGY WAL_LOG"
        with _admin(kind) as conn:
            conn.execute(text(sql))
            if kind == "postgresql":  # a commit need not wait for its WAL flush: this server is
                # never crashed under a test database (the fault tests crash a private cluster)
                conn.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
        self.created[kind].append(name)

    def _drop(self, kind: str, name: str) -> None:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with _admin(kind) as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        if name in self.created[kind]:
            self.created[kind].remove(name)

    # --- templates -------------------------------------------------------------------
    @functools.cache  # noqa: B019 - one pool per session
    def sqlite_template(self, flavour: str) -> Path:
        path = self.root / f"template-{flavour}.db"
        _build(f"sqlite:///{path}", flavour)
        return path

    @functools.cache  # noqa: B019 - one pool per session
    def postgres_template(self, flavour: str) -> str:
        name = self._new_name(f"tmpl_{flavour[:4]}")
        self._create("postgresql", name)
        _build(_url("postgresql", name), flavour)
        return name

    # --- hand-out ----------------------------------------------------------------------
    @contextlib.contextmanager
    def database(self, kind: str, tmp_path: Path, flavour: str | None = None) -> Iterator[str]:
        """Yield the URL of a database holding `flavour`'s schema (None: empty); clean it after."""
        if kind == "sqlite":
            path = tmp_path / "test.db"
            if flavour:
                shutil.copyfile(self.sqlite_template(flavour), path)
            yield f"sqlite:///{path}"
        elif flavour is None:
            name = self._new_name("t")
            self._create(kind, name)
            try:
                yield _url(kind, name)
            finally:
                self._drop(kind, name)
        else:
            yield from self._reused(kind, flavour)

    def _reused(self, kind: str, flavour: str) -> Iterator[str]:
        """A server database kept between tests: emptied after each, dropped only when the
        test changed its schema. PostgreSQL's DROP DATABASE forces a checkpoint (0.4-1 s
        under load) and CREATE … TEMPLATE another 0.1-0.5 s; emptying takes a few ms."""
        name = self.spare.pop((kind, flavour), None) or self._build_reusable(kind, flavour)
        try:
            yield _url(kind, name)
        finally:
            if self._clean(kind, name, flavour):
                self.spare[(kind, flavour)] = name
            else:
                self._drop(kind, name)

    def _build_reusable(self, kind: str, flavour: str) -> str:
        name = self._new_name(f"r_{flavour[:4]}")
        if kind == "postgresql":
            self._create(kind, name, self.postgres_template(flavour))
        else:
            self._create(kind, name)
            _build(_url(kind, name), flavour)
        self.fingerprints.setdefault((kind, flavour), self._fingerprint(kind, name))
        return name

    def _fingerprint(self, kind: str, name: str) -> str:
        """The schema as the catalogue tells it, with the Alembic stamp (which is data)."""
        engine = create_engine(_url(kind, name))
        try:
            with engine.connect() as conn:
                parts = _catalogue(conn) if kind == "postgresql" else _create_statements(conn)
                schema = "public" if kind == "postgresql" else name
                if conn.execute(_HAS_STAMP, {"schema": schema}).scalar():
                    parts += conn.execute(text("SELECT version_num FROM alembic_version")).all()
        finally:
            engine.dispose()
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def _clean(self, kind: str, name: str, flavour: str) -> bool:
        """Empty a reused database; False when it is no longer the template's schema.

        Only the tables the test wrote to are emptied: PostgreSQL by one TRUNCATE … RESTART
        IDENTITY (ids start at 1 again, as in a copy of the template), MariaDB by DELETE
        (TRUNCATE recreates each table: 30 ms apiece; its counters go on, as in production).
        """
        try:
            if self._fingerprint(kind, name) != self.fingerprints[(kind, flavour)]:
                return False
            tables = _truncated(flavour, "postgresql" if kind == "postgresql" else "mysql")
            engine = create_engine(_url(kind, name), isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    _empty(conn, kind, name, tables)
            finally:
                engine.dispose()
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Drop every database this session made (templates included)."""
        for kind, names in self.created.items():
            for name in list(names):
                with contextlib.suppress(Exception):
                    self._drop(kind, name)


def _empty(conn: Connection, kind: str, name: str, tables: list[str]) -> None:
    """Empty the tables that hold rows, with nobody else connected (a test's leftover
    session would hold locks)."""
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)
    if kind == "postgresql":
        conn.execute(text("SET lock_timeout = '5s'"))
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        dirty = [t for t in tables if t in set(conn.execute(text(probe)).scalars())]
        if dirty:
            conn.execute(text(f"TRUNCATE {', '.join(dirty)} RESTART IDENTITY CASCADE"))
        return
    conn.execute(text("SET SESSION lock_wait_timeout = 5"))
    conn.execute(text("SET SESSION foreign_key_checks = 0"))
    dirty_set = set(conn.execute(text(probe.replace(" WHERE", " FROM DUAL WHERE"))).scalars())
    for table in tables:
        if table in dirty_set:
            conn.execute(text(f"DELETE FROM {table}"))


def _create_statements(conn: Connection) -> list[Any]:
    """MariaDB: every table's CREATE statement (a few ms; information_schema took 0.3 s),
    auto-increment counters left out, and the triggers."""
    tables = sorted(conn.execute(text("SHOW TABLES")).scalars())
    return [
        _AUTO_INCREMENT.sub("", conn.execute(text(f"SHOW CREATE TABLE {t}")).one()[1])
        for t in tables
    ] + sorted(tuple(row[:4]) for row in conn.execute(text("SHOW TRIGGERS")))


def _catalogue(conn: Connection) -> list[Any]:
    """PostgreSQL: relations with their columns, defaults, indexes (and validity),
    constraints, triggers, privileges and options; functions, extensions, settings."""
    return list(conn.execute(_PG_CATALOGUE).all())


_PG_CATALOGUE = text(
    """
    SELECT c.relname, c.relkind::text, c.relacl::text, c.reloptions::text,
           pg_get_userbyid(c.relowner)::text,
           (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                              || ' ' || a.attnotnull || ' '
                              || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                              ', ' ORDER BY a.attnum)
              FROM pg_attribute a
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT string_agg(pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid, ', '
                              ORDER BY pg_get_indexdef(i.indexrelid))
              FROM pg_index i WHERE i.indrelid = c.oid),
           (SELECT string_agg(o.conname || ' ' || pg_get_constraintdef(o.oid) || ' '
                              || o.convalidated, ', ' ORDER BY o.conname)
              FROM pg_constraint o WHERE o.conrelid = c.oid),
           (SELECT string_agg(t.tgname || ' ' || t.tgenabled::text, ', ' ORDER BY t.tgname)
              FROM pg_trigger t WHERE t.tgrelid = c.oid)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text, '', '', '', '', '', '', '', ''
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL
    SELECT 'extension ' || extname, extversion, '', '', '', '', '', '', '' FROM pg_extension
    UNION ALL
    SELECT 'schema ' || nspname, '', '', '', '', '', '', '', '' FROM pg_namespace
    UNION ALL
    SELECT 'setting', array_to_string(setconfig, ','), '', '', '', '', '', '', ''
      FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY 1, 2
    """
)
_HAS_STAMP = text(
    "SELECT count(*) FROM information_schema.tables "
    "WHERE table_name = 'alembic_version' AND table_schema = :schema"
)


def _truncated(flavour: str, dialect: str) -> list[str]:
    """The tables a reused database is emptied of (the dialect's side tables too: TRUNCATE
    fires no trigger); the Alembic stamp stays."""
    side = sorted(declared_tables(Base.metadata, dialect))
    return side + [t.name for t in reversed(Base.metadata.sorted_tables)]
