"""Per-source totals summed from the jobs' JSON `result` by the database, one row per source.

Each job's `result["sources"]` maps a source name to `{"found", "stored", "error", ...}`
(scraper.worker.report); each dialect's JSON table function expands the object's keys, so no
job's JSON is decoded in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from scraper.models import UTCDateTime

_SQL = {
    "postgresql": """
        SELECT s.key, sum(coalesce((s.value->>'found')::bigint, 0)),
               sum(coalesce((s.value->>'stored')::bigint, 0)),
               sum(CASE WHEN coalesce(s.value->>'error', '') <> '' THEN 1 ELSE 0 END)
        FROM scrape_jobs j CROSS JOIN LATERAL json_each(j.result->'sources') s
        WHERE j.created_at >= :start AND j.result IS NOT NULL
          AND json_typeof(j.result->'sources') = 'object'{owner}
        GROUP BY s.key""",
    "mysql": """
        SELECT n.name,
               sum(coalesce(JSON_VALUE(j.result, concat('$.sources."', n.name, '".found')), 0)),
               sum(coalesce(JSON_VALUE(j.result, concat('$.sources."', n.name, '".stored')), 0)),
               sum(CASE WHEN coalesce(JSON_VALUE(j.result,
                                                 concat('$.sources."', n.name, '".error')), '')
                             <> '' THEN 1 ELSE 0 END)
        FROM scrape_jobs j
        CROSS JOIN JSON_TABLE(JSON_KEYS(j.result, '$.sources'), '$[*]'
                              COLUMNS (name VARCHAR(64) PATH '$')) AS n
        WHERE j.created_at >= :start AND j.result IS NOT NULL{owner}
        GROUP BY n.name""",
    "sqlite": """
        SELECT s.key, sum(coalesce(json_extract(s.value, '$.found'), 0)),
               sum(coalesce(json_extract(s.value, '$.stored'), 0)),
               sum(CASE WHEN coalesce(json_extract(s.value, '$.error'), '') <> ''
                   THEN 1 ELSE 0 END)
        FROM scrape_jobs j, json_each(j.result, '$.sources') s
        WHERE j.created_at >= :start AND j.result IS NOT NULL
          AND json_type(j.result, '$.sources') = 'object'{owner}
        GROUP BY s.key""",
}


@dataclass
class SourceTotals:
    """Items one source found, stored, and the jobs in which it failed."""

    found: int = 0
    stored: int = 0
    failed: int = 0


def source_totals(
    session: Session, start: datetime, user_id: int | None
) -> dict[str, SourceTotals]:
    """Per source, over the jobs created since `start` (a user's own, or everyone's for None)."""
    dialect = session.get_bind().dialect.name
    owner = "" if user_id is None else " AND j.user_id = :user_id"
    stmt = text(_SQL.get(dialect, _SQL["sqlite"]).format(owner=owner))
    stmt = stmt.bindparams(bindparam("start", start, type_=UTCDateTime()))
    if user_id is not None:
        stmt = stmt.bindparams(user_id=user_id)
    totals = {
        str(name): SourceTotals(int(found or 0), int(stored or 0), int(failed or 0))
        for name, found, stored, failed in session.execute(stmt)
    }
    return dict(sorted(totals.items()))
