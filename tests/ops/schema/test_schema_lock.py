"""One schema changer at a time: the lock excludes, and a repair re-checks once it has it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from ops.errors import SchemaLockTimeout
from ops.schema.lock import schema_lock
from scraper.migrations.manage import check_schema, migrate
from tests.ops.schema.test_check_schema import engine

__all__ = ["engine"]  # the fixture, re-exported for this module


@pytest.mark.slow
def test_a_second_holder_waits_for_the_lock(engine: Engine) -> None:
    with schema_lock(engine):
        failure: list[BaseException] = []

        def contend() -> None:
            try:
                with schema_lock(engine, timeout=1):
                    pass
            except SchemaLockTimeout as exc:
                failure.append(exc)

        thread = threading.Thread(target=contend)
        thread.start()
        thread.join(30)
    assert len(failure) == 1
    with schema_lock(engine, timeout=5):  # released: free again
        pass


@pytest.mark.slow
def test_concurrent_repairs_apply_each_change_once(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    reports, errors = [], []

    def repair() -> None:
        try:
            reports.append(migrate(engine))
        except Exception as exc:  # collected: a failure in any thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=repair) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    applied = [d.column for report in reports for d in report.applied]
    assert applied == ["updated_at"]  # once: the others found nothing left after the lock
    assert check_schema(engine).in_sync
