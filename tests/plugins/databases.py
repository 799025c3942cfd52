"""Test databases: each schema built once per dialect per session, each test given a clean copy.

Building the schema (create_all, or init_db with its Alembic stamp) costs 0.4-2.5 s on a
server; copying it costs far less, so the copy is what each test pays:

- SQLite: the template file is copied into the test's tmp_path.
- PostgreSQL: `CREATE DATABASE … TEMPLATE` (WAL_LOG strategy: no checkpoint), dropped after.
- MariaDB has no templates: one database per flavour per session is reused, emptied after
  each test by TRUNCATE (identities restart). A test that changed its schema (drift tests drop
  columns and indexes) or left a lock behind is noticed by a fingerprint of the catalogue, and
  that database is dropped and a new one built for the next test.

Every name carries a per-session token, so xdist workers and parallel runs never share one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

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

_FINGERPRINT_SQL = text(
    "SELECT table_name, column_name, column_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema = :s "
    "UNION ALL SELECT table_name, index_name, column_name, non_unique, seq_in_index "
    "FROM information_schema.statistics WHERE table_schema = :s "
    "UNION ALL SELECT table_name, constraint_name, constraint_type, '', '' "
    "FROM information_schema.table_constraints WHERE table_schema = :s "
    "UNION ALL SELECT event_object_table, trigger_name, action_timing, event_manipulation, '' "
    "FROM information_schema.triggers WHERE trigger_schema = :s "
    "ORDER BY 1, 2, 3, 4, 5"
)


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
        self.spare: dict[str, str] = {}  # MariaDB flavour -> a clean database ready to reuse
        self.fingerprints: dict[str, str] = {}

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
        elif kind == "postgresql":
            name = self._new_name("t")
            self._create(kind, name, self.postgres_template(flavour) if flavour else None)
            try:
                yield _url(kind, name)
            finally:
                self._drop(kind, name)
        elif flavour is None:
            name = self._new_name("t")
            self._create(kind, name)
            try:
                yield _url(kind, name)
            finally:
                self._drop(kind, name)
        else:
            yield from self._mariadb_reused(flavour)

    def _mariadb_reused(self, flavour: str) -> Iterator[str]:
        name = self.spare.pop(flavour, None) or self._mariadb_build(flavour)
        try:
            yield _url("mariadb", name)
        finally:
            if self._mariadb_clean(name, flavour):
                self.spare[flavour] = name
            else:
                self._drop("mariadb", name)

    def _mariadb_build(self, flavour: str) -> str:
        name = self._new_name(f"r_{flavour[:4]}")
        self._create("mariadb", name)
        _build(_url("mariadb", name), flavour)
        self.fingerprints.setdefault(flavour, self._fingerprint(name))
        return name

    def _fingerprint(self, name: str) -> str:
        with _admin("mariadb") as conn:
            rows = list(conn.execute(_FINGERPRINT_SQL, {"s": name}).all())
            if any(row[0] == "alembic_version" for row in rows):  # the stamp is data
                rows += conn.execute(text(f"SELECT version_num FROM {name}.alembic_version"))
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    def _mariadb_clean(self, name: str, flavour: str) -> bool:
        """Empty a reused database; False when it is no longer the template's schema."""
        try:
            if self._fingerprint(name) != self.fingerprints[flavour]:
                return False
            engine = create_engine(_url("mariadb", name), isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text("SET SESSION lock_wait_timeout = 5"))
                    conn.execute(text("SET SESSION foreign_key_checks = 0"))
                    for table in _truncated(flavour):
                        conn.execute(text(f"TRUNCATE TABLE {table}"))
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


def _truncated(flavour: str) -> list[str]:
    """The tables a reused database is emptied of (the side tables too: TRUNCATE fires no
    trigger); the Alembic stamp stays."""
    side = sorted(declared_tables(Base.metadata, "mysql"))
    return side + [t.name for t in reversed(Base.metadata.sorted_tables)]
