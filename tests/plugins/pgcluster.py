"""The `private_postgres` fixture: a PostgreSQL cluster of this test's own, on a free port.

Fault tests stop and restart the database; doing that to the shared server would break every
other test running against it, so each test gets a cluster made with `initdb` in a temporary
directory owned by `postgres` (the binaries refuse to run as root). It is always stopped and
removed at teardown, whatever the test did to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ops.smoke import free_port
from scraper import db
from scraper.models import Base
from scraper.runtime import Runtime
from tests.conftest import make_settings, missing_service

PG_BIN = Path(os.environ.get("SCRAPER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"


class PrivatePostgres:
    """One throw-away cluster: `start`, `stop`, `restart` (pg_ctl -m fast) and its `url`."""

    def __init__(self, root: Path, listen: str = "127.0.0.1", network: str | None = None) -> None:
        self.root = root
        self.listen = listen  # comma-separated addresses, as listen_addresses takes them
        self.network = network  # a CIDR whose clients are trusted too (other hosts)
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = ["runuser", "-u", PG_USER, "--", *args] if os.geteuid() == 0 else list(args)
        subprocess.run(command, check=True, timeout=timeout, capture_output=True)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.listen} -c fsync=off"
        base = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w"]
        self._run(*base, "-t", "60", "-o", options, action, *extra)

    def init(self) -> None:
        """initdb with trust auth, start, and create the `test` database."""
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "-N"]
        self._run(*initdb, "--auth=trust", "-E", "UTF8")
        if self.network:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self.network} trust\n")
        self.start()
        admin = create_engine(self.url.replace("/test", "/postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE test"))
        admin.dispose()

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Stop (fast: disconnect every client) and start again on the same port."""
        self._pg_ctl("restart", "-m", "fast")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            try:
                self._pg_ctl("stop", "-m", "immediate")
            except subprocess.SubprocessError:
                pass  # removing the directory below still frees everything but the process
        shutil.rmtree(self.root, ignore_errors=True)


def outage_runtime(
    cluster: PrivatePostgres,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    lease_seconds: float,
    reconnect_budget: float,
) -> Runtime:
    """A runtime over the cluster's models' tables whose writes wait `reconnect_budget` seconds
    for the database (not 30), so an outage of a few seconds outlasts them."""
    monkeypatch.setattr(db, "RECONNECT_BUDGET", reconnect_budget)
    settings = make_settings(cluster.url, data_dir)
    runtime = Runtime(settings.with_overrides(lease_seconds=lease_seconds))
    Base.metadata.create_all(runtime.engine)
    return runtime


@contextlib.contextmanager
def postgres_cluster(
    listen: str = "127.0.0.1", network: str | None = None
) -> Iterator[PrivatePostgres]:
    """A running private cluster listening on `listen`; stopped and deleted on exit."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        missing_service(f"PostgreSQL server binaries are not in {PG_BIN} (or runuser is missing)")
    root = Path(tempfile.mkdtemp(prefix="scraper-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    cluster = PrivatePostgres(root, listen, network)
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster with an empty `test` database; stopped and deleted after."""
    with postgres_cluster() as cluster:
        yield cluster
