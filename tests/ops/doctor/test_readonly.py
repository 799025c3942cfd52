"""Without --heal, `ops doctor`, `ops check-schema` and `ops jobs` change nothing at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pymysql
import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from healthchecks import Status, storage
from healthchecks.refusal import RefusalKind, classify
from ops.cli import main
from scraper.jobs import FallbackStore
from scraper.runtime import Runtime
from tests.ops.doctor.conftest import FaultEnv, database_state, file_state


@pytest.mark.parametrize("command", [["doctor"], ["check-schema"], ["jobs"]])
def test_missing_sqlite_file_is_not_created(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "missing-dir" / "scraper.db"
    before = file_state(tmp_path)
    result = CliRunner().invoke(main, [*command, "--database-url", f"sqlite:///{target}"])
    assert result.exit_code in (1, 2), result.output  # check-schema: every table missing
    assert file_state(tmp_path) == before
    assert not target.parent.exists()


@pytest.mark.parametrize("command", [["doctor"], ["check-schema"], ["jobs"]])
def test_commands_leave_a_healthy_database_as_found(env: FaultEnv, command: list[str]) -> None:
    before = (file_state(env.root), database_state(env.url))
    result = CliRunner().invoke(main, [*command, "--json", "--database-url", env.url])
    assert result.exit_code == 0, result.output
    assert (file_state(env.root), database_state(env.url)) == before


def test_reading_the_journal_creates_no_lock_file(tmp_path: Path) -> None:
    journal = tmp_path / "data" / "fallback-jobs.jsonl"
    assert FallbackStore(journal).jobs() == []
    assert not (tmp_path / "data").exists()


def _sqlite_error(statement: str) -> Exception:
    """A real sqlite3 error, with its extended result code."""
    try:
        sqlite3.connect(":memory:").execute(statement)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError(f"{statement} did not fail")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            pymysql.err.OperationalError(
                1290, "The MariaDB server is running with the --read-only option"
            ),
            RefusalKind.READ_ONLY,
        ),
        (
            pymysql.err.OperationalError(
                1792, "Cannot execute statement in a READ ONLY transaction"
            ),
            RefusalKind.READ_ONLY,
        ),
        (pymysql.err.IntegrityError(1048, "Column 'tenant' cannot be null"), RefusalKind.NOT_NULL),
        (
            pymysql.err.OperationalError(1049, "Unknown database 'nope'"),
            RefusalKind.MISSING_DATABASE,
        ),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), RefusalKind.LOCKED),
        (_sqlite_error("INSERT INTO nope VALUES (1)"), RefusalKind.MISSING_TABLE),
    ],
)
def test_driver_errors_are_classified_by_code(error: Exception, kind: RefusalKind) -> None:
    refusal = classify(OperationalError("INSERT INTO scrape_jobs ...", {}, error))
    assert refusal.kind is kind
    assert refusal.statement == "INSERT INTO scrape_jobs ..."


def test_missing_but_creatable_data_dir_only_warns(runtime: Runtime, tmp_path: Path) -> None:
    missing = Runtime(runtime.settings.with_overrides(data_dir=tmp_path / "new" / "data"))
    result = storage.check_writable(missing)
    assert result.status is Status.WARN
    assert result.remedy is not None and result.remedy.heal == "mkdir"
    assert not (tmp_path / "new").exists()
