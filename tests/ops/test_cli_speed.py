"""`ops --help` lists every command without importing them (or SQLAlchemy, or the service),
and says exactly what the commands' own help says (issue 29: `ops --help` < 0.3 s)."""

from __future__ import annotations

import subprocess
import sys

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
