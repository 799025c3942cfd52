"""Typed ORM models: the schema the ops toolkit checks the live database against."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from scraper.db import NAMING_CONVENTION
from scraper.statecounts import COUNT_OBJECTS
from scraper.textsearch import PG_INDEX, SEARCH_OBJECTS, install

if TYPE_CHECKING:
    from sqlalchemy.sql.base import _DialectArgDict, _DialectArgView


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database on every dialect, aware UTC in Python.

    MariaDB's DATETIME drops fractions unless asked for microseconds, so leases use DATETIME(6).
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            from sqlalchemy.dialects import mysql  # loaded on first use: a process on
            # SQLite or PostgreSQL never imports MariaDB's dialect (nor PostgreSQL's, elsewhere)

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class PostgreSQLIndex(Index):
    """An index with PostgreSQL options (`postgresql={"using": "gin"}` for `postgresql_using=`)
    that imports SQLAlchemy's PostgreSQL dialect only when something reads them.

    `Index(..., postgresql_using=...)` checks its options against that dialect when the model
    is defined, which imports the whole package (every driver's module: 40-50 ms of CPU) into
    every process that imports the models, a SQLite one's too. Here the options join the
    index's `dialect_options["postgresql"]` when that is first read (PostgreSQL's DDL compiler)
    and before any listing of `dialect_kwargs` (Alembic's `CreateIndexOp.from_index`, a
    `Table.to_metadata` copy): read anywhere, the index is the one `Index(...)` would build.
    """

    def __init__(self, name: str, *expressions: str, postgresql: Mapping[str, Any]) -> None:
        self._postgresql = dict(postgresql)
        super().__init__(name, *expressions)

    def _kw_reg_for_dialect_cls(self, dialect_name: str) -> _DialectArgDict:  # type: ignore[override]
        """SQLAlchemy's hook (a classmethod there) that fills `dialect_options[dialect_name]`
        on its first read: the defaults the dialect declares, then this index's own."""
        options = super()._kw_reg_for_dialect_cls(dialect_name)
        if dialect_name == "postgresql":
            unknown = set(self._postgresql) - set(options)
            if unknown:  # what Index's own check of postgresql_* arguments refuses
                raise TypeError(f"PostgreSQL takes no index option {sorted(unknown)}")
            options.update(self._postgresql)
        return options

    @property
    def dialect_kwargs(self) -> _DialectArgView:
        self.dialect_options["postgresql"]  # listed with the others, as if given to Index()
        return super().dialect_kwargs


class JobStatus(enum.StrEnum):
    """A job's state: pending -> running -> completed | failed | cancelled (retry: pending)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_STATUS_SQL = ", ".join(f"'{s.value}'" for s in JobStatus)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="selectin")

    @property
    def role_names(self) -> set[str]:
        return {role.name for role in self.roles}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class ScrapeJob(Base):
    __tablename__ = "scrape_jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        Index(None, "status", "created_at"),
        Index(None, "user_id", "created_at"),
        # A user's dashboard poll (status=running): its count and page from the index alone.
        Index(None, "user_id", "status", "created_at"),
        Index(None, "status", "lease_expires_at"),
        Index(None, "locked_by"),
        # Issue 23 (migration 0007): the newest-first page and its keyset cursor, the stats'
        # finished-in-window counts and the doctor's latest finished jobs, the progress sort.
        Index(None, "created_at", "id"),
        Index(None, "finished_at", "status"),
        Index(None, "progress", "created_at"),
        # Issue 23 (migration 0010): `q`, a substring search (scraper.textsearch); MariaDB and
        # SQLite keep their own side tables, so this index exists on PostgreSQL only.
        PostgreSQLIndex(
            PG_INDEX, "query", postgresql={"using": "gin", "ops": {"query": "gin_trgm_ops"}}
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_type: Mapped[str] = mapped_column(String(32), server_default="search", default="search")
    status: Mapped[str] = mapped_column(String(16), server_default="pending", default="pending")
    progress: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    query: Mapped[str] = mapped_column(String(500))
    max_content: Mapped[int] = mapped_column(Integer)
    safe_search: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    enabled_sources: Mapped[list[str]] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    downloaded: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    bytes_downloaded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    # Per source: items found, stored, skipped (and why), errors; see scraper.worker.report.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    # Fencing token: +1 on every claim; a worker's writes name the token of its claim.
    lease_token: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The schedule whose tick created the job (None: submitted by hand); see Schedule.
    schedule_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Skip items an earlier job of the same user (or schedule) stored: see SeenItem.
    incremental: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("job_id", "sha256"),
        # Files and bytes stored per stats bucket, from the index alone (migration 0007).
        Index(None, "created_at", "size_bytes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(
        ForeignKey("scrape_jobs.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    path: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(500))
    license: Mapped[str | None] = mapped_column(String(128))
    author: Mapped[str | None] = mapped_column(String(255))
    landing_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    current_jobs: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    jobs_done: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    state: Mapped[str] = mapped_column(String(16), server_default="running", default="running")
    # Why the worker cannot claim jobs ("claims are failing: ..."), None while claims work.
    last_error: Mapped[str | None] = mapped_column(String(500))


class JobAttempt(Base):
    """An earlier run of a job, kept when the job is retried (when, which worker, what error)."""

    __tablename__ = "job_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(
        ForeignKey("scrape_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSession(Base):
    """A signed-in browser session; signing out deletes it, so a saved cookie stops working."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginAttempt(Base):
    """One failed sign-in; the sign-in throttle counts these per account and per address.

    In the database, not in process memory, so every web process sees the same count.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index(None, "username", "attempted_at"),
        Index(None, "client", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    client: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Schedule(Base):
    """A saved search fired on a cron expression in a time zone (scraper.schedules)."""

    __tablename__ = "schedules"
    __table_args__ = (Index(None, "paused", "next_run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    query: Mapped[str] = mapped_column(String(500))
    max_content: Mapped[int] = mapped_column(Integer)
    safe_search: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    enabled_sources: Mapped[list[str]] = mapped_column(JSON)
    incremental: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC", default="UTC")
    paused: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ScheduleRun(Base):
    """One tick of a schedule; its unique (schedule_id, fire_at) makes a tick fire once."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    job_id: Mapped[str | None] = mapped_column(String(36))
    fired_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeenItem(Base):
    """A source item an earlier job of a scope stored: `scope` is `s:<schedule id>` or
    `u:<user id>`; `item_hash` is the sha256 of the source's own item identity."""

    __tablename__ = "seen_items"
    __table_args__ = (UniqueConstraint("scope", "source", "item_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(32))
    item_hash: Mapped[str] = mapped_column(String(64))
    item_key: Mapped[str] = mapped_column(String(2048))
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def claim_values(worker_id: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    """The columns a worker's claim sets (`ops doctor`'s write probe replays the same update)."""
    return claim_columns(
        worker_id, now + timedelta(seconds=lease_seconds), now, f"claimed by {worker_id}"
    )


def claim_columns(worker_id: Any, lease_expires_at: Any, now: Any, message: Any) -> dict[str, Any]:
    """`claim_values` from values or bind parameters (the worker's claim statement is built
    once, its values bound at each claim)."""
    return dict(
        status=JobStatus.RUNNING.value,
        locked_by=worker_id,
        lease_expires_at=lease_expires_at,
        started_at=func.coalesce(ScrapeJob.started_at, now),
        attempts=ScrapeJob.attempts + 1,
        lease_token=ScrapeJob.lease_token + 1,
        message=message,
        updated_at=now,
    )


class StatsRollup(Base):
    """Counters per five-minute slot, user and source, kept in the same transaction as the
    job and asset writes they count (scraper.rollup), so `/api/stats` reads a few rows
    per slot instead of every job in the window.

    `slot` is the slot number since 1970 (UTC, five minutes each). `user_id` is the job's
    owner, 0 for none (no foreign key: a deleted user's history still adds to everyone's).
    Readers sum over `shard`. The row with `source` "" holds the job counters: jobs created in
    the slot, completed and failed in it, files and bytes stored in it; a row per source
    holds, for the jobs created in the slot, the items it found, stored, and the jobs in which
    it failed (`failed`).
    """

    __tablename__ = "stats_rollup"
    __table_args__ = (Index(None, "user_id", "slot"),)

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Concurrent writers add to different rows of one (slot, user, source): a worker's thread
    # keeps to its own shard, so a fleet finishing jobs never queues on one hot row.
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    completed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    failed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    files: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    found: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    stored: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)


install(ScrapeJob.__table__)  # type: ignore[arg-type]
install(ScrapeJob.__table__, COUNT_OBJECTS)  # type: ignore[arg-type]
# Objects besides the models' tables (ops.schema.extras): the search index's, SQLite's counts.
Base.metadata.info["ops.schema.extras"] = {
    dialect: [*SEARCH_OBJECTS.get(dialect, []), *COUNT_OBJECTS.get(dialect, [])]
    for dialect in {*SEARCH_OBJECTS, *COUNT_OBJECTS}
}
