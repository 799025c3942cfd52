"""`ops --help` lists every command without importing them (or SQLAlchemy, or the service),
and says exactly what the commands' own help says (issue 29: `ops --help` < 0.3 s)."""

from __future__ import annotations

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


DOCTOR_THEN_MODULES = """
import sys
from ops.cli import main
try:
    main(["doctor", "--json", "--database-url", sys.argv[1]])
except SystemExit as exit:
    print(exit.code)
watched = ("alembic", "mako", "pygments", "werkzeug", "flask", "croniter", "boto3",
           "prometheus_client", "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql")
print(repr(sorted(m for m in watched if m in sys.modules)))
"""


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
    env = {**os.environ, "SCRAPER_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", DOCTOR_THEN_MODULES, sqlite_url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    *report, code, heavy = done.stdout.splitlines()
    assert '"schema:migrations"' in "".join(report) and "newest revision" in "".join(report)
    assert code == "0", done.stdout
    assert heavy == "[]", f"`ops doctor` imported {heavy}"
