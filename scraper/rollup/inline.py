"""The rollup's count of one tracked job write, as SQL run inside the statement that makes the
write (PostgreSQL): the same differences `tracked_update` adds in Python (`_change`), computed
by the database from the write's RETURNING, so that the write, its rollup and whatever else
the statement does commit as one autocommitted statement.

The job's contribution before and after (`job_counts`): its creation slot's `created`, its
finish slot's `completed` or `failed`, and per source of `result["sources"]` the creation
slot's row (`created`, `found`, `stored`, `failed`), each the after minus the before; each
inserted asset adds a file and its bytes at its own slot. Rows are summed per (slot, user,
source), zero rows dropped, and upserted in key order (every writer locks rollup rows in the
same order) into the writer's shard.
"""

from __future__ import annotations

from collections.abc import Sequence

from scraper.models import JobStatus
from scraper.rollup import COUNTERS, SLOT, SLOT_START, STATE
from scraper.rollup.buckets import EPOCH

BEFORE = "b_"  # the prefix of the state before the write in `done`'s columns


def slot_sql(at: str) -> str:
    """`slot_of` a naive UTC timestamp expression, exactly: `extract` is numeric (to the
    microsecond) and `div` its integer quotient."""
    start = (SLOT_START.replace(tzinfo=None) - EPOCH).total_seconds()
    since = f"extract(epoch FROM {at})" + (f" - {start:g}" if start else "")
    return f"div({since}, {SLOT.total_seconds():g})::int"


def change_ctes(done: str, assets: Sequence[tuple[str, str]], shard: str) -> str:
    """CTEs (to follow other CTEs after a comma) that add a job write's rollup change.

    `done`: a CTE with at most one row, the job's `STATE` columns before (prefixed `b_`) and
    after the write (no row: nothing written, nothing counted). `assets`: per asset inserted
    with it, the SQL of its `created_at` and `size_bytes` (bind parameters). The rows to add
    are collected with the time of their slot (`t`), turned into slot numbers once. `shard`: the
    SQL of the writer's shard."""
    done_ = JobStatus.COMPLETED.value, JobStatus.FAILED.value
    state = [c.key for c in STATE]
    before, after = ", ".join(BEFORE + c for c in state), ", ".join(state)
    sources = "CASE WHEN json_typeof(r->'sources') = 'object' THEN r->'sources' END"

    def n(key: str) -> str:
        return f"k * coalesce((e.value->>'{key}')::bigint, 0)"

    parts = [
        "SELECT c, u, '', k, 0, 0, 0, 0, 0, 0 FROM v",
        f"SELECT f, u, '', 0, k * (s = '{done_[0]}')::int, "
        f"k * (s = '{done_[1]}')::int, 0, 0, 0, 0 FROM v "
        f"WHERE s IN ('{done_[0]}', '{done_[1]}') AND f IS NOT NULL",
        "SELECT c, u, e.key, k, 0, "
        f"k * (coalesce(e.value->>'error', '') <> '')::int, 0, 0, {n('found')}, {n('stored')} "
        f"FROM v, json_each({sources}) e",
        *(f"SELECT {at}, user_id, '', 0, 0, 0, 1, {size}, 0, 0 FROM {done}" for at, size in assets),
    ]
    counters = ", ".join(COUNTERS)
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    zeros = ", ".join("0" for _ in COUNTERS)
    added = ", ".join(f"{c} = o.{c} + excluded.{c}" for c in COUNTERS)
    return (
        f"v AS (SELECT x.* FROM {done}, LATERAL (VALUES (-1, {before}), (1, {after})) "
        "x(k, u, s, c, f, r)), "
        f"d(t, u, src, {counters}) AS ({' UNION ALL '.join(parts)}), "
        f"r AS (INSERT INTO stats_rollup AS o (slot, user_id, source, shard, {counters}) "
        f"SELECT {slot_sql('t')}, coalesce(u, 0), src, {shard}, {sums} FROM d GROUP BY 1, 2, 3 "
        f"HAVING ({sums}) <> ({zeros}) ORDER BY 1, 2, 3 "
        f"ON CONFLICT (slot, user_id, source, shard) DO UPDATE SET {added})"
    )
