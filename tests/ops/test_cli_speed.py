"""`ops --help` lists every command without importing them (or SQLAlchemy, or the service),
and says exactly what the commands' own help says (issue 29: `ops --help` < 0.3 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from scraper.migrations.manage import init_db

HELP_THEN_EAGER = """
import sys
from click.testing import CliRunner
from ops.cli import main
from ops.cli.base import COMMANDS
lazy = CliRunner().invoke(main, ["--help"]).output
watched = ("sqlalchemy", "pydantic", "flask", "alembic", "scraper.config", "scraper.models",
           "healthchecks", "requests", "boto3")
heavy = sorted(m for m in watched if m in sys.modules)
import importlib
for module, _ in COMMANDS.values():
    importlib.import_module(module)
eager = CliRunner().invoke(main, ["--help"]).output
print(repr(heavy))
print(lazy == eager)
print(sorted(main.commands) == sorted(COMMANDS))
"""


def test_ops_help_is_the_commands_own_and_imports_none_of_them() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HELP_THEN_EAGER], capture_output=True, text=True, check=True
    )
    heavy, same, complete = done.stdout.splitlines()
    assert heavy == "[]", f"`ops --help` imported {heavy}"
    assert same == "True", "ops.cli.base.COMMANDS says other than the commands' own help"
    assert complete == "True", "a command is missing from ops.cli.base.COMMANDS (or extra)"


RUN_THEN_MODULES = """
import json, sys
from ops.cli import main
watched, arguments = json.loads(sys.argv[1]), sys.argv[2:]
try:
    main(arguments)
except SystemExit as exit:
    print(exit.code)
print(repr(sorted(m for m in watched if m in sys.modules)))
"""


def run_then_modules(arguments: list[str], watched: list[str], data: Path) -> tuple[str, str, str]:
    """Run `ops ARGUMENTS` in a fresh process: (its output, its exit code, the `watched`
    modules it imported)."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_THEN_MODULES, json.dumps(watched), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SCRAPER_DATA_DIR": str(data)},
    )
    *report, code, heavy = done.stdout.splitlines()
    return "\n".join(report), code, heavy


@pytest.mark.slow
def test_a_whole_ops_doctor_run_imports_no_migration_web_metrics_or_other_dialect(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The doctor reads the revision with one SELECT and parses the revision files: Alembic
    (with Mako and Pygments), werkzeug and croniter load only where a command needs them, the
    metrics (prometheus_client) where a job is created, a dialect where its database is."""
    engine = create_engine(sqlite_url)
    init_db(engine)  # the migration head recorded: the revision check runs in full
    engine.dispose()
    watched = ["alembic", "mako", "pygments", "werkzeug", "flask", "croniter", "boto3"]
    watched += ["prometheus_client", "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql"]
    arguments = ["doctor", "--json", "--database-url", sqlite_url]
    report, code, heavy = run_then_modules(arguments, watched, tmp_path / "data")
    assert '"schema:migrations"' in report and "newest revision" in report
    assert code == "0", report
    assert heavy == "[]", f"`ops doctor` imported {heavy}"


@pytest.mark.slow
def test_a_whole_ops_jobs_run_imports_neither_the_schema_comparison_nor_the_checks(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`ops jobs` lists jobs: it names a database (`ops.errors.safe_url`) and takes the fallback
    store's lock (`ops.schema.flock`) without loading the schema comparison, the health
    checks, the web app or the migrations."""
    engine = create_engine(sqlite_url)
    init_db(engine)
    engine.dispose()
    watched = ["ops.schema.check", "ops.schema.compare", "ops.schema.reflect", "healthchecks"]
    watched += ["alembic", "flask", "werkzeug", "prometheus_client", "croniter", "boto3"]
    report, code, heavy = run_then_modules(
        ["jobs", "--database-url", sqlite_url], watched, tmp_path / "data"
    )
    assert "0 shown of 0" in report
    assert code == "0", report
    assert heavy == "[]", f"`ops jobs` imported {heavy}"
