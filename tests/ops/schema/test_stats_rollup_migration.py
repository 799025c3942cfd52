"""Migration 0009 (issue 23): the stats rollup is created and filled from the jobs and assets
already there, batch by batch outside the migration's transaction; check-schema knows it."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import insert, select

from scraper import rollup
from scraper.db import make_engine
from scraper.migrations import alembic_config
from scraper.migrations.manage import check_schema
from scraper.models import Asset, ScrapeJob, StatsRollup
from tests.scraper.jobs.test_stats_rollup import summed
from tests.scraper.jobs.test_stats_sql import NOW, _asset, _job, _sources


def test_the_backfill_counts_what_the_rows_hold(db_url: str) -> None:
    engine = make_engine(db_url)
    jobs = [
        _job(NOW - timedelta(minutes=7 * n), status=status, finished_at=NOW - timedelta(minutes=n),
             result=_sources(selftest=(n, n // 2, "x" if n % 3 else None)))
        for n, status in enumerate(["completed", "failed", "cancelled", "running"] * 5)
    ]  # fmt: skip
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0008")
        conn.execute(insert(ScrapeJob), jobs)
        conn.execute(insert(Asset), [_asset(j["id"], j["created_at"], 10) for j in jobs])
    with engine.connect() as conn:  # Alembic owns the transaction: the fill may leave it
        command.upgrade(alembic_config(connection=conn), "head")
    with engine.connect() as conn:
        table = summed(conn.execute(select(StatsRollup)).all())  # type: ignore[arg-type]
        counted = dict(rollup.counted(conn, "j.id IS NOT NULL", {}).nonzero())
    assert table == counted
    assert sum(c["created"] for (_, _, source), c in table.items() if source == "") == 20
    assert sum(c["files"] for c in table.values()) == 20
    report = check_schema(engine)
    assert report.in_sync, report.differences
    engine.dispose()
