"""The doctor's reads are served by indexes: no sort or scan of the jobs table (issue 29)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from healthchecks.failures import recent_finished_stmt
from scraper.models import Base


def test_recent_failures_walk_the_finished_at_index_without_a_sort(tmp_path: Path) -> None:
    """With an index on finished_at (migration 0007 adds it), the check reads LOOK_BACK
    entries of it backwards: no sort of the jobs table, whatever its size."""
    path = tmp_path / "plan.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_probe_finished_at ON scrape_jobs (finished_at)")
            compiled = recent_finished_stmt().compile(engine)
            plan = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values())
            ).all()
        details = " | ".join(str(row[-1]) for row in plan)
        assert "ix_probe_finished_at" in details, details
        assert "TEMP B-TREE" not in details, details
    finally:
        engine.dispose()
