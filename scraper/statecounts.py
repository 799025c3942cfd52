"""SQLite: how many jobs are in each state, kept by triggers in `scrape_job_counts`.

PostgreSQL and MariaDB answer a state's count past 10,000 from their planner's estimate
(scraper.jobs.reads.counting); SQLite has none, so a capped count read 10,001 index entries per
state and then sampled the newest 10,000 rows: the dashboard grew 1.7x from 100k to 1M jobs
as the five states reached the cap. Here each (user, state) is one row, changed by triggers
in the job's own transaction, so the dashboard's, the metrics' and a status list's counts read
a handful of rows, exact, however many jobs the table holds. SQLite has one writer at a time,
so the rows cannot become a point of contention; on PostgreSQL and MariaDB, where every
worker finishing a job would update the same (user, completed) row, the estimates stay.

`user_id` 0 holds the jobs without a user (as the stats rollup does). The objects are declared
like scraper.textsearch's (the shape `ops.schema.extras` documents): `create_all` builds them
on a new database, migration 0011 on a live one, and check-schema, init-db and migrate report
and repair them (the fill counts the table again after a rebuild dropped the triggers).
"""

from __future__ import annotations

from typing import Any

from scraper.textsearch import jobs_extra

COUNTS_TABLE = "scrape_job_counts"
_OWNER = "COALESCE({row}.user_id, 0)"
_ADD = (
    f"INSERT INTO {COUNTS_TABLE} (user_id, status, jobs) "
    f"VALUES ({_OWNER.format(row='new')}, new.status, 1) "
    "ON CONFLICT (user_id, status) DO UPDATE SET jobs = jobs + 1"
)
_SUBTRACT = (
    f"UPDATE {COUNTS_TABLE} SET jobs = jobs - 1 "
    f"WHERE user_id = {_OWNER.format(row='old')} AND status = old.status"
)
SQLITE_TRIGGERS = {
    "scrape_job_counts_insert": f"AFTER INSERT ON scrape_jobs BEGIN {_ADD}; END",
    "scrape_job_counts_update": (
        "AFTER UPDATE OF status, user_id ON scrape_jobs "
        "WHEN old.status IS NOT new.status OR old.user_id IS NOT new.user_id "
        f"BEGIN {_SUBTRACT}; {_ADD}; END"
    ),
    "scrape_job_counts_delete": f"AFTER DELETE ON scrape_jobs BEGIN {_SUBTRACT}; END",
}
SQLITE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {COUNTS_TABLE} ("
    "user_id INTEGER NOT NULL, status VARCHAR(16) NOT NULL, jobs INTEGER NOT NULL, "
    "PRIMARY KEY (user_id, status)) WITHOUT ROWID"
)
# Every job counted again: the fill after a rebuild, and migration 0011's (one statement: the
# migration's write lock keeps the jobs still while it counts them, a covering-index read).
FILL = [
    f"DELETE FROM {COUNTS_TABLE}",
    f"INSERT INTO {COUNTS_TABLE} (user_id, status, jobs) "
    "SELECT COALESCE(user_id, 0), status, count(*) FROM scrape_jobs GROUP BY 1, 2",
]


COUNT_OBJECTS: dict[str, list[dict[str, Any]]] = {
    "sqlite": [
        jobs_extra(
            "table", COUNTS_TABLE, SQLITE_TABLE, f"DROP TABLE IF EXISTS {COUNTS_TABLE}", FILL
        ),
        *(
            jobs_extra(
                "trigger",
                name,
                f"CREATE TRIGGER IF NOT EXISTS {name} {body}",
                f"DROP TRIGGER IF EXISTS {name}",
                [],
            )
            for name, body in SQLITE_TRIGGERS.items()
        ),
    ],
}


def create_statements(dialect: str) -> list[str]:
    """The objects' DDL for this database (the table, then its triggers), without content."""
    return [extra["create"] for extra in COUNT_OBJECTS.get(dialect, [])]


def drop_statements(dialect: str) -> list[str]:
    """The objects' DROP statements, triggers first."""
    return [extra["drop"] for extra in reversed(COUNT_OBJECTS.get(dialect, []))]
