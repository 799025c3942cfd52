"""The `ops check-schema`, `init-db` and `migrate` commands: exit codes, text and --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ops.cli import main
from scraper.db import make_engine, sqlite_file
from tests.ops.schema.test_check_schema import plant

SPEC_KEYS = {"table", "column", "kind", "severity", "expected", "actual", "fix"}
OTHER_METADATA = sa.MetaData()
sa.Table("users", OTHER_METADATA, sa.Column("id", sa.Integer, primary_key=True))


def ops(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_schema_exit_codes_and_json_on_each_dialect(db_url: str) -> None:
    path = sqlite_file(db_url)
    if path is not None:  # an empty file is an empty SQLite database; a missing one is refused
        path.touch()
    code, out, _ = ops("check-schema", "--database-url", db_url, "--json")
    assert code == 1
    assert {d["kind"] for d in json.loads(out)["differences"]} == {"missing_table"}
    assert ops("init-db", "--database-url", db_url)[0] == 0
    code, out, _ = ops("check-schema", "--database-url", db_url, "--json")
    assert (code, json.loads(out)["in_sync"], json.loads(out)["differences"]) == (0, True, [])
    eng = make_engine(db_url)
    plant(eng, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    eng.dispose()
    code, out, _ = ops("check-schema", "--database-url", db_url, "--json")
    payload = json.loads(out)
    assert code == 1 and payload["in_sync"] is False
    [diff] = payload["differences"]
    assert SPEC_KEYS <= set(diff)
    assert (diff["table"], diff["column"], diff["severity"]) == (
        "scrape_jobs",
        "updated_at",
        "critical",
    )


def two_drifts(url: str) -> None:
    """An initialized database with an unexpected column and the seed's missing column."""
    ops("init-db", "--database-url", url)
    eng = make_engine(url)
    plant(eng, "assets", lambda b: b.add_column(sa.Column("note", sa.String(20))))
    plant(eng, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    eng.dispose()


def test_check_schema_text_is_grouped_by_table_critical_first_with_summary(sqlite_url: str) -> None:
    two_drifts(sqlite_url)
    code, out, _ = ops("check-schema", "--database-url", sqlite_url)
    assert code == 1
    assert out.index("scrape_jobs:") < out.index("assets:")
    assert "CRITICAL missing_column scrape_jobs.updated_at" in out
    assert "ALTER TABLE scrape_jobs ADD COLUMN updated_at" in out
    assert out.strip().splitlines()[-1].startswith("Summary: 2 differences in 2 tables")


def test_unreachable_database_exits_2_naming_url_without_password() -> None:
    url = "postgresql+psycopg://scraper:s3cret@127.0.0.1:1/nothing"
    for command in (["check-schema"], ["init-db"], ["migrate"]):
        code, out, err = ops(*command, "--database-url", url)
        assert code == 2
        assert "127.0.0.1:1/nothing" in err and "s3cret" not in err + out
        assert len(err.strip().splitlines()) == 1


def test_bad_models_exit_2(sqlite_url: str) -> None:
    code, out, err = ops(
        "check-schema", "--database-url", sqlite_url, "--models", "nope:X", "--json"
    )
    assert code == 2
    assert json.loads(out)["error"] == "BadModelsPath"
    assert "nope:X" in err


def test_models_option_checks_another_apps_metadata(sqlite_url: str) -> None:
    ops("init-db", "--database-url", sqlite_url)
    models = "tests.ops.schema.test_cli_schema:OTHER_METADATA"
    code, out, _ = ops("check-schema", "--database-url", sqlite_url, "--models", models, "--json")
    kinds = {(d["table"], d["kind"]) for d in json.loads(out)["differences"]}
    assert code == 1 and ("users", "unexpected_column") in kinds


@pytest.mark.slow
def test_migrate_dry_run_sql_then_apply(db_url: str) -> None:
    ops("init-db", "--database-url", db_url)
    eng = make_engine(db_url)
    plant(eng, "scrape_jobs", lambda b: b.drop_column("updated_at"))
    eng.dispose()
    code, out, _ = ops("migrate", "--database-url", db_url, "--dry-run")
    assert code == 1 and "Would apply 1 change(s)." in out
    code, out, _ = ops("migrate", "--database-url", db_url, "--sql")
    assert "ADD COLUMN updated_at" in out
    code, out, _ = ops("migrate", "--database-url", db_url, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["in_sync"] and payload["applied"][0]["column"] == "updated_at"
    assert ops("check-schema", "--database-url", db_url)[0] == 0


def test_migrate_prints_sqlite_backup_and_refusals(sqlite_url: str) -> None:
    two_drifts(sqlite_url)
    code, out, _ = ops("migrate", "--database-url", sqlite_url)
    assert code == 1
    assert "Backed up the SQLite database to " in out
    assert "unexpected_column assets.note" in out and "--allow-destructive" in out
    assert ops("migrate", "--database-url", sqlite_url, "--allow-destructive")[0] == 0


def test_database_url_defaults_to_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_DATABASE_URL", sqlite_url)
    assert ops("init-db")[0] == 0
    assert ops("check-schema")[0] == 0


@pytest.mark.slow
def test_real_subprocess_check_schema_json(sqlite_url: str, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "ops"
    env = dict(os.environ, SCRAPER_DATABASE_URL=sqlite_url)
    first = subprocess.run(
        [str(exe), "check-schema", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 2 and json.loads(first.stdout)["error"] == "DatabaseMissing"
    assert first.stderr.count("\n") == 1 and "does not exist" in first.stderr
    subprocess.run(
        [str(exe), "init-db"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60
    )
    second = subprocess.run(
        [str(exe), "check-schema", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0 and json.loads(second.stdout) | {"differences": []} == json.loads(
        second.stdout
    )
