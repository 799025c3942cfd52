"""Reflection while another process alters the schema: five processes healing one drifted
database together read the catalogue while the others change it."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine

from ops.schema.reflect import reflect_schema
from tests.conftest import fresh_database

READS = 120


def test_reflection_survives_a_constraint_added_and_dropped_meanwhile(tmp_path: Path) -> None:
    """SQLAlchemy's PostgreSQL reflection meets a NULL definition for a CHECK constraint dropped
    between two of its queries (TypeError, a few reads in a hundred here); reading again sees
    the settled catalogue."""
    with fresh_database("postgresql", tmp_path) as url:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE churn (x integer)")
        stop = threading.Event()

        def churn() -> None:
            with engine.connect() as conn:
                while not stop.is_set():
                    conn.exec_driver_sql("ALTER TABLE churn ADD CONSTRAINT ck_x CHECK (x > 0)")
                    conn.exec_driver_sql("ALTER TABLE churn DROP CONSTRAINT ck_x")

        thread = threading.Thread(target=churn)
        thread.start()
        try:
            with engine.connect() as conn:
                seen = [reflect_schema(conn) for _ in range(READS)]
        finally:
            stop.set()
            thread.join()
            engine.dispose()
    assert all("churn" in live.tables for live in seen)
    # both states of the churned table were read, whole
    checks = {len(live.tables["churn"].checks) for live in seen}
    assert checks == {0, 1}, checks
