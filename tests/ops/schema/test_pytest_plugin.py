"""The `ops_schema` pytest plugin, as another project's suite uses it, and in our own suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ops.schema.pytest_plugin import SchemaChecker


def test_our_migrations_build_what_our_models_declare(
    db_url: str, ops_schema: SchemaChecker
) -> None:
    """Configured in pyproject.toml: scraper.models:Base and scraper's Alembic environment."""
    assert ops_schema.assert_migrations_match_models(db_url).in_sync


APP = """
import sqlalchemy as sa
metadata = sa.MetaData()
sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("name", sa.String(40), nullable=False), sa.CheckConstraint("id > 0"))
"""
SUITE = """
import sqlalchemy as sa

def test_database_matches_models(ops_schema, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, CHECK (id > 0))")
    ops_schema.assert_in_sync(url)
"""


@pytest.mark.slow
def test_another_projects_suite_fails_with_the_grouped_report(tmp_path: Path) -> None:
    """A project that only installs us and sets two ini options gets the CLI's report."""
    (tmp_path / "app_models.py").write_text(textwrap.dedent(APP))
    (tmp_path / "test_schema.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nops_schema_models = app_models:metadata\nops_schema_alembic_config = x.ini\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Schema drift in sqlite:///" in result.stdout
    assert "items:\n  CRITICAL missing_column items.name" in result.stdout
    assert "Summary: 1 differences in 1 tables (1 critical, 0 warning, 0 info)." in result.stdout
    assert "check_constraint" not in result.stdout  # the unnamed CHECK matched by expression
