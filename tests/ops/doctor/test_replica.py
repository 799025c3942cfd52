"""A real PostgreSQL streaming replica, started by the test: `pg_basebackup -R` of a private
cluster into a temporary directory and a second server on a free port (issue 29 item 4).

`ops doctor` pointed at the standby names it a hot standby / read-only replica of the
primary's HOST:PORT and says to point the service at that primary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import main
from scraper.db import make_engine
from scraper.migrations.manage import init_db
from tests.plugins.pgcluster import PG_BIN, PG_USER, PrivatePostgres


@contextlib.contextmanager
def standby_of(primary: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """A hot standby streaming from `primary` (pg_basebackup -R), stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="scraper-pg-standby-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    standby = PrivatePostgres(root)
    try:
        standby._run(
            str(PG_BIN / "pg_basebackup"),
            *("-D", str(standby.data), "-h", "127.0.0.1", "-p", str(primary.port)),
            *("-U", PG_USER, "-R", "-X", "stream", "-c", "fast"),
            timeout=120,
        )
        standby.start()
        yield standby
    finally:
        standby.destroy()


@pytest.mark.slow
@pytest.mark.postgres
def test_doctor_on_a_streaming_standby_names_the_replica_and_its_primary(
    private_postgres: PrivatePostgres,
) -> None:
    engine = make_engine(private_postgres.url)
    try:
        init_db(engine)
    finally:
        engine.dispose()
    with standby_of(private_postgres) as standby:
        result = CliRunner().invoke(
            main, ["doctor", "--json", "--database-url", standby.url], catch_exceptions=False
        )
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        causes = [report["root_cause"], *report["other_findings"]]
        cause = next(c for c in causes if c["check"] == "database:writes")
        primary = f"127.0.0.1:{private_postgres.port}"
        assert f"hot standby / read-only replica of {primary}" in cause["summary"], cause
        assert primary in cause["fix"] and "SCRAPER_DATABASE_URL" in cause["fix"], cause
        assert cause["evidence"]["pg_is_in_recovery"] is True
