"""`ops check-schema --models` on a Flask-SQLAlchemy app, and what its process imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures.flask_app.models import db

MODELS = "tests.fixtures.flask_app.models:db"
ROOT = Path(__file__).resolve().parents[3]


def ops(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `ops` command as a user does."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_models_accepts_a_flask_sqlalchemy_db(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    db.metadata.create_all(engine)
    assert ops("check-schema", "--models", MODELS, "--database-url", db_url).returncode == 0
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE scrape_jobs DROP COLUMN updated_at")
    engine.dispose()
    result = ops("check-schema", "--models", MODELS, "--database-url", db_url, "--json")
    assert result.returncode == 1, result.stderr
    [diff] = json.loads(result.stdout)["differences"]
    assert (diff["table"], diff["column"], diff["kind"], diff["severity"]) == (
        "scrape_jobs",
        "updated_at",
        "missing_column",
        "critical",
    )
    assert "ADD COLUMN updated_at" in diff["fix"]


PROBE = """
import sys
from ops.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    heavy = sorted(m for m in sys.modules if m.startswith(("alembic", "optuna", "flask")))
    print("HEAVY", heavy, file=sys.stderr)
    raise
"""


@pytest.mark.slow
def test_an_in_sync_check_schema_process_never_imports_alembic(sqlite_url: str) -> None:
    """Alembic's operations and DDL modules load only when a fix is rendered."""
    from scraper.migrations.manage import init_db

    engine = sa.create_engine(sqlite_url)
    init_db(engine)
    engine.dispose()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "check-schema", "--database-url", sqlite_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAVY []" in result.stderr
