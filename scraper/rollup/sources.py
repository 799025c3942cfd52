"""Per-source totals summed from the jobs' JSON `result` by the database, one row per source.

Each job's `result["sources"]` maps a source name to `{"found", "stored", "error", ...}`
(scraper.worker.report); each dialect's JSON table function expands the object's keys, so no
job's JSON is decoded in Python. `source_sql` also groups by further keys (the stats rollup
counts each slot's and user's jobs this way: scraper.rollup).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from scraper.models import UTCDateTime


@dataclass(frozen=True)
class _Expand:
    """One dialect's expansion of `result.sources`: the join, the name and the three sums."""

    join: str
    name: str
    found: str
    stored: str
    error: str
    where: str = ""


def _mysql_field(key: str) -> str:
    return f"JSON_VALUE(j.result, concat('$.sources.\"', n.name, '\".{key}'))"


_EXPAND = {
    "postgresql": _Expand(
        join="CROSS JOIN LATERAL json_each(j.result->'sources') s",
        name="s.key",
        found="(s.value->>'found')::bigint",
        stored="(s.value->>'stored')::bigint",
        error="s.value->>'error'",
        where=" AND json_typeof(j.result->'sources') = 'object'",
    ),
    "mysql": _Expand(
        join="CROSS JOIN JSON_TABLE(JSON_KEYS(j.result, '$.sources'), '$[*]' "
        "COLUMNS (name VARCHAR(64) PATH '$')) AS n",
        name="n.name",
        found=_mysql_field("found"),
        stored=_mysql_field("stored"),
        error=_mysql_field("error"),
    ),
    "sqlite": _Expand(
        join=", json_each(j.result, '$.sources') s",
        name="s.key",
        found="json_extract(s.value, '$.found')",
        stored="json_extract(s.value, '$.stored')",
        error="json_extract(s.value, '$.error')",
        where=" AND json_type(j.result, '$.sources') = 'object'",
    ),
}


def source_sql(dialect: str, where: str, keys: Sequence[str] = (), jobs: bool = False) -> str:
    """SELECT *keys, source, [jobs,] found, stored, failed FROM scrape_jobs j (and its
    sources) WHERE `where` GROUP BY the keys and the source."""
    e = _EXPAND.get(dialect, _EXPAND["sqlite"])
    group = ", ".join([*keys, e.name])
    count = " count(*)," if jobs else ""
    return f"""
        SELECT {group},{count} sum(coalesce({e.found}, 0)), sum(coalesce({e.stored}, 0)),
               sum(CASE WHEN coalesce({e.error}, '') <> '' THEN 1 ELSE 0 END)
        FROM scrape_jobs j {e.join}
        WHERE ({where}) AND j.result IS NOT NULL{e.where}
        GROUP BY {group}"""


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
    stmt = text(source_sql(dialect, "j.created_at >= :start" + owner))
    stmt = stmt.bindparams(bindparam("start", start, type_=UTCDateTime()))
    if user_id is not None:
        stmt = stmt.bindparams(user_id=user_id)
    totals = {
        str(name): SourceTotals(int(found or 0), int(stored or 0), int(failed or 0))
        for name, found, stored, failed in session.execute(stmt)
    }
    return dict(sorted(totals.items()))
