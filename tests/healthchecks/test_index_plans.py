"""The doctor's reads are served by indexes: no sort or scan of the jobs table (issue 29)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from healthchecks import queue, workers
from healthchecks.failures import recent_finished_stmt
from scraper.models import Base
from scraper.runtime import Runtime
from tests.conftest import sqlite_only


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


@sqlite_only
def test_the_queue_and_worker_checks_count_no_more_than_the_pending_jobs(
    runtime: Runtime,
) -> None:
    """Counting every job walks a whole index (0.2 s at a million jobs on PostgreSQL, once per
    check): the checks count the pending range of the status index only."""
    counts: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower() and "scrape_jobs" in statement:
            counts.append(" ".join(statement.split()))

    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        for check in (workers.check, queue.check_oldest_pending, queue.check_expired_leases):
            check(runtime)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)
    assert counts, "no count was read"
    assert all("WHERE" in statement for statement in counts), counts
