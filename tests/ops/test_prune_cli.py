"""`ops prune`: old finished jobs go with their files; counts printed; no age given -> exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import main
from scraper.runtime import Runtime
from tests.scraper.jobs.test_housekeeping import add_job, on_disk


def ops(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["prune", *args])
    return result.exit_code, result.stdout, result.stderr


def test_prune_dry_run_counts_then_prune_deletes_and_prints_the_counts(
    env_runtime: Runtime,
) -> None:
    add_job(env_runtime, ["a", "b"], age_days=10)
    add_job(env_runtime, ["c"], status="failed", age_days=10)
    kept = add_job(env_runtime, ["b"], age_days=2)

    code, out, _ = ops("--older-than", "7", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out) | {"cutoff": None} == {
        "dry_run": True,
        "older_than_days": 7,
        "cutoff": None,
        "jobs": 2,
        "assets": 3,
        "files": 2,
    }
    assert on_disk(env_runtime, "a")

    code, out, _ = ops("--older-than", "7")
    assert code == 0
    assert out.startswith("pruned 2 job(s), 3 asset row(s), 2 file(s) (finished before ")
    assert not on_disk(env_runtime, "a") and not on_disk(env_runtime, "c")
    assert on_disk(env_runtime, "b")
    assert [j.id for j in env_runtime.jobs.list().jobs] == [kept]


@pytest.mark.parametrize("env_runtime", ["sqlite"], indirect=True)
def test_prune_takes_its_age_from_scraper_retention_days(
    env_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_job(env_runtime, ["a"], age_days=40)
    monkeypatch.setenv("SCRAPER_RETENTION_DAYS", "30")
    code, out, _ = ops("--dry-run")
    assert code == 0 and out.startswith("would prune 1 job(s), 1 asset row(s), 1 file(s)")


@pytest.mark.parametrize("env_runtime", ["sqlite"], indirect=True)
def test_prune_without_an_age_exits_2_with_one_line(
    env_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCRAPER_RETENTION_DAYS", raising=False)
    code, out, err = ops()
    assert (code, out) == (2, "")
    assert err == "error: give --older-than DAYS, or set SCRAPER_RETENTION_DAYS\n"


def test_prune_of_a_missing_sqlite_file_or_an_unreachable_server_is_one_line(
    tmp_path: Path,
) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    code, _, err = ops("--older-than", "1", "--database-url", missing)
    assert code == 2 and err.startswith("error: the SQLite database ") and err.count("\n") == 1
    assert not (tmp_path / "none.db").exists()
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    code, _, err = ops("--older-than", "1", "--database-url", down)
    assert code == 2 and err.startswith("error: cannot use the database: ")
    assert err.count("\n") == 1
