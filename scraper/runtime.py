"""The wiring every entry point shares: settings, engine, sessions, stores."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from scraper.config import Settings
from scraper.db import SessionLimits, make_engine, make_sessionmaker
from scraper.jobs import FallbackStore, JobService, JobStore, RescueResult
from scraper.storage import Storage, open_store

OVERFLOW = 64  # connections a worker may open beyond the kept ones while threads overlap


@dataclass
class Runtime:
    """One per process (web, worker, ops command); cheap to build, nothing connects until used."""

    settings: Settings
    # A connection ping on every pool checkout; a worker turns it off before first use (its
    # writes and claims retry a lost connection), keeping one after 2 s idle (`scraper.db`).
    pre_ping: bool = True
    # Connections the pool keeps open between uses (None: SQLAlchemy's 5). A worker keeps one:
    # its host's idle leader then holds one connection, which also listens for queued jobs
    # (`scraper.worker.wakeup`), an idle follower none (`close_idle_connections`); more open
    # while threads overlap and close when they are done.
    kept_connections: int | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Runtime:
        return cls(Settings.from_env(None, **overrides))

    @cached_property
    def engine(self) -> Engine:
        limits = SessionLimits(
            lock_timeout=self.settings.db_lock_timeout,
            idle_in_transaction_timeout=self.settings.db_idle_transaction_timeout,
        )
        pool: dict[str, Any] = {}
        if self.kept_connections is not None and not self.settings.database_url.startswith(
            "sqlite"
        ):
            pool = dict(pool_size=self.kept_connections, max_overflow=OVERFLOW)
        return make_engine(self.settings.database_url, limits, pool_pre_ping=self.pre_ping, **pool)

    @cached_property
    def Session(self) -> sessionmaker[Session]:  # noqa: N802 - it is a factory, named like one
        return make_sessionmaker(self.engine)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(self.Session)

    def rescue_expired(self) -> RescueResult:
        """Requeue (or fail) jobs of dead workers with this deployment's attempts and backoff:
        the worker, the self-healer and `ops doctor --heal` all rescue by the same rule."""
        return self.store.rescue_expired(self.settings.max_attempts, self.settings.retry_backoff)

    @cached_property
    def fallback(self) -> FallbackStore:
        return FallbackStore(self.settings.fallback_journal)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(self.store, self.fallback)

    @cached_property
    def files(self) -> Storage:
        s = self.settings
        return open_store(s.storage_url, s.data_dir, s.s3_endpoint_url, s.s3_region)

    def close_idle_connections(self) -> None:
        """Close the connections the pool keeps, when none is in use: a worker waiting
        behind its host's idle leader holds none (`scraper.worker.election`).

        Only a pool sized for a worker (`kept_connections`), never a web process's; and not
        on SQLite, whose connection is a file handle, not a session on a server."""
        if "engine" not in self.__dict__ or self.kept_connections is None:
            return
        pool = self.engine.pool
        if isinstance(pool, QueuePool) and self.engine.dialect.name != "sqlite":
            if pool.checkedout() == 0:
                pool.dispose()

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
