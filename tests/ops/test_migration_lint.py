"""CI lint of the migrations: squawk over the PostgreSQL SQL `alembic upgrade --sql` produces,
one revision at a time (a finding about an existing table is only visible that way).

Rules disabled for every revision are named and justified in `.squawk.toml`; a finding a
shipped revision may keep (changing a shipped migration is not allowed) is in ACCEPTED, with
why. Anything else fails.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from scraper.migrations import alembic_config

ROOT = Path(__file__).resolve().parents[2]
ACCEPTED = {
    # 0004 shipped a plain CREATE INDEX on scrape_jobs (Alembic runs it in a transaction, where
    # CONCURRENTLY is not allowed). Databases past 0004 have the index; ops.schema rebuilds a
    # missing one concurrently. A new index on a big table goes in its own revision, built
    # CONCURRENTLY in an autocommit block.
    ("0004", "require-concurrent-index-creation"),
}


def squawk() -> str:
    found = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if found is None:
        pytest.skip("squawk-cli is not installed (pip install -e .[test])")
    return found


def revision_sql(revision: str, previous: str | None) -> str:
    """The PostgreSQL DDL of one revision, as `alembic upgrade PREVIOUS:REVISION --sql` prints."""
    config = alembic_config("postgresql+psycopg://lint@localhost/lint")
    config.output_buffer = io.StringIO()
    command.upgrade(config, f"{previous}:{revision}" if previous else revision, sql=True)
    return config.output_buffer.getvalue()


def revisions() -> list[tuple[str, str | None]]:
    script = ScriptDirectory.from_config(alembic_config())
    ordered = list(reversed(list(script.walk_revisions())))
    return [(r.revision, r.down_revision) for r in ordered]  # type: ignore[misc]


def test_migrations_pass_squawk(tmp_path: Path) -> None:
    binary = squawk()
    files = []
    for revision, previous in revisions():
        path = tmp_path / f"{revision}.sql"
        path.write_text(revision_sql(revision, previous))
        files.append(path)
    config = ROOT / ".squawk.toml"
    result = subprocess.run(
        [binary, "--config", str(config), "--reporter", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    unexpected = [
        f"{Path(f['file']).stem}:{f['line']} {f['rule_name']}: {f['message']}"
        for f in findings
        if (Path(f["file"]).stem, f["rule_name"]) not in ACCEPTED
    ]
    assert not unexpected, "\n".join(unexpected)
    assert len(files) >= 6


def test_the_lint_catches_a_blocking_index_on_an_existing_table(tmp_path: Path) -> None:
    """The lint can fail: a plain CREATE INDEX on an existing table is a finding."""
    sql = tmp_path / "bad.sql"
    sql.write_text(
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\n"
        "CREATE INDEX ix_bad ON scrape_jobs (query);\nCOMMIT;\n"
    )
    result = subprocess.run(
        [squawk(), "--config", str(ROOT / ".squawk.toml"), "--reporter", "json", str(sql)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rules = {f["rule_name"] for f in json.loads(result.stdout or "[]")}
    assert rules == {"require-concurrent-index-creation"}
