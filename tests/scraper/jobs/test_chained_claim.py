"""A busy worker claims its next job in the transaction that completes the last one: one
commit per job, with the completion's guarantees (fence, exactly once) kept."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg._queries as psycopg_queries
import pytest
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, OperationalError

from scraper import rollup
from scraper.accounts import create_user
from scraper.jobs import NewJob, chained
from scraper.jobs.assets import asset_row
from scraper.jobs.record import JobRecord
from scraper.jobs.store import NextClaim
from scraper.models import Asset, StatsRollup, utcnow
from scraper.rollup import SLOT_START
from scraper.runtime import Runtime
from scraper.sources import MediaItem
from scraper.sources.selftest import make_png
from scraper.worker import Worker
from tests.plugins.statements import sent_with_parameters
from tests.plugins.waiting import wait_until
from tests.scraper.jobs.test_stats_rollup import job_record, summed

JOB_LOOP = "worker-1"  # the first job loop's thread (worker-0 keeps house)


def _create(runtime: Runtime, query: str) -> str:
    return runtime.jobs.create(NewJob(query=query, max_content=1)).id


def _claimed(runtime: Runtime, worker: str) -> JobRecord:
    job = runtime.store.claim(worker, 30)
    assert job is not None
    return job


@contextmanager
def driver_run(
    seen: Callable[[str, Any], None], failed: list[BaseException] | None = None
) -> Iterator[None]:
    """Call `seen(sql, params)` after each statement `chained` runs by the driver (one
    statement in autocommit, which SQLAlchemy's cursor events do not see); what one of them
    raised goes to `failed`."""
    run = chained._run

    def observed(engine: Any, sql: str, params: Any) -> Any:
        try:
            row = run(engine, sql, params)
        except BaseException as exc:
            if failed is not None:
                failed.append(exc)
            raise
        seen(sql, params)
        return row

    chained._run = observed  # type: ignore[assignment]
    try:
        yield
    finally:
        chained._run = run  # type: ignore[assignment]


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent meanwhile, (sql, parameters): SQLAlchemy's and the driver's."""
    with sent_with_parameters(runtime.engine) as sent:
        with driver_run(lambda sql, params: sent.append((sql, params))):
            yield sent


@contextmanager
def transactions(
    runtime: Runtime, thread: str | None = None, after: Callable[[], None] | None = None
) -> Iterator[list[str]]:
    """The transactions committed meanwhile (by `thread`, or by any): each COMMIT, and each
    statement sent in autocommit (PostgreSQL's one-statement write); `after` is called once
    each is counted."""
    seen: list[str] = []

    def count(*_args: Any) -> None:
        fired_by = threading.current_thread().name
        if thread is None or fired_by == thread:
            seen.append(fired_by)
            if after is not None:
                after()

    event.listen(runtime.engine, "commit", count)
    try:
        with driver_run(count):
            yield seen
    finally:
        event.remove(runtime.engine, "commit", count)


def test_a_completing_write_claims_the_next_job_in_its_own_commit(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    then = NextClaim("w1", 30)
    with transactions(runtime) as sent:
        assert runtime.store.complete(first, "w1", "done", held.lease_token, then=then)
    assert len(sent) == 1
    assert then.job is not None and then.job.id == second
    assert (then.job.status, then.job.locked_by, then.job.lease_token) == ("running", "w1", 1)
    assert runtime.store.get(first).status == "completed"
    stored = runtime.store.get(second)
    assert then.job == stored  # every field as a read of the row gives it (times aware UTC)
    assert (stored.status, stored.locked_by, stored.attempts) == ("running", "w1", 1)


def test_an_empty_queue_leaves_the_next_claim_empty(runtime: Runtime) -> None:
    only = _create(runtime, "a")
    held = _claimed(runtime, "w1")
    then = NextClaim("w1", 30)
    assert runtime.store.complete(only, "w1", "done", held.lease_token, then=then)
    assert then.job is None


def test_a_refused_completion_writes_nothing_and_still_claims(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    then = NextClaim("w2", 30)
    assert not runtime.store.complete(first, "w2", "not mine", held.lease_token, then=then)
    assert runtime.store.get(first).status == "running"
    assert then.job is not None and then.job.id == second and then.job.locked_by == "w2"


def test_a_completion_that_does_not_commit_claims_nothing(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    item = MediaItem(url="selftest://1.png", mime="image/png", content=make_png("a"))
    row = asset_row(first, "selftest", item, runtime.files.put_bytes(item.content, "image/png"))
    assert runtime.store.add_assets("w1", held.lease_token, [row]).inserted
    then = NextClaim("w1", 30)
    with pytest.raises(IntegrityError):  # the row is recorded already: nothing is written
        runtime.store.complete(first, "w1", "done", held.lease_token, assets=[row], then=then)
    assert then.job is None
    assert runtime.store.get(first).status == "running"
    assert runtime.store.get(second).status == "pending"


def test_a_busy_worker_commits_once_per_job(runtime: Runtime) -> None:
    ids = [_create(runtime, f"j{i}") for i in range(6)]
    quiet = Runtime(runtime.settings.model_copy(update={"poll_interval": 30.0}))  # no idle polls
    worker = Worker(quiet, downloader=None)
    try:
        with transactions(quiet, JOB_LOOP) as sent:
            worker.start()
            try:
                done = {"completed": len(ids)}
                wait_until(lambda: runtime.store.count_by_status() == done, 30, "the jobs done")
            finally:
                worker.stop()
    finally:
        quiet.close()
    # The first claim's commit, one per job (its completion and the next claim), and the
    # claim that found the queue empty; two commits per job before.
    assert len(sent) <= len(ids) + 2
    assert all(runtime.store.get(i).attempts == 1 for i in ids)


def test_a_job_claimed_for_a_run_that_does_not_come_is_released(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    worker = Worker(runtime, downloader=None)

    def stop_at_the_completion() -> None:
        # The loop's first transaction is its claim of `first`; the second completes it and
        # claims `second`: the worker is asked to stop then, before it can run `second`.
        if len(loop) == 2:
            worker.request_stop()

    with transactions(runtime, JOB_LOOP, after=stop_at_the_completion) as loop:
        worker.start()
        wait_until(lambda: worker.stopping, 30, "the worker to be asked to stop")
        worker.stop()
    assert runtime.store.get(first).status == "completed"
    released = runtime.store.get(second)
    assert (released.status, released.locked_by, released.attempts) == ("pending", None, 0)


def _assets(job_id: str, minutes_ago: list[int]) -> list[Asset]:
    """Rows of `job_id`'s files, stored that many minutes ago (rollup slots apart)."""
    now = utcnow()
    return [
        Asset(
            job_id=job_id,
            source="selftest",
            url=f"selftest://{m}.png",
            path=f"p{m}",
            filename=f"{m}.png",
            sha256=f"{m:064d}",
            size_bytes=100 + m,
            content_type="image/png",
            created_at=now - timedelta(minutes=m),
        )
        for m in minutes_ago
    ]


def _stored_sizes(runtime: Runtime, job_id: str) -> list[int]:
    with runtime.Session() as s:
        return sorted(s.scalars(select(Asset.size_bytes).where(Asset.job_id == job_id)))


def _rollup_matches_rows(runtime: Runtime) -> bool:
    with runtime.Session() as s:
        kept = summed(s.scalars(select(StatsRollup)).all())
        return kept == dict(rollup.counted(s, "j.id IS NOT NULL", {}).nonzero())


def test_a_chained_completion_records_its_assets_and_counts_them(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    rows = _assets(first, [0, 7, 70])
    then = NextClaim("w1", 30)
    with statements(runtime) as sent:
        assert runtime.store.complete(
            first, "w1", "done", held.lease_token, assets=rows, then=then, downloaded=3
        )
    assert then.job is not None and then.job.id == second and then.job.lease_token == 1
    assert _stored_sizes(runtime, first) == [100, 107, 170]
    assert runtime.store.get(first).status == "completed"
    assert _rollup_matches_rows(runtime)
    if runtime.engine.dialect.name == "postgresql":  # the write, its assets, their rollup
        assert len(sent) == 1  # and the claim


def test_a_refused_chained_completion_records_no_assets(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    then = NextClaim("w2", 30)
    rows = _assets(first, [0, 7])
    assert not runtime.store.complete(
        first, "w2", "not mine", held.lease_token, assets=rows, then=then
    )
    assert _stored_sizes(runtime, first) == []
    assert runtime.store.get(first).status == "running"
    assert then.job is not None and then.job.id == second
    assert _rollup_matches_rows(runtime)


def test_a_no_op_jobs_completing_statement_stays_in_psycopgs_cache() -> None:
    """psycopg converts a statement of more than MAX_CACHED_STATEMENT_LENGTH characters (or
    MAX_CACHED_STATEMENT_PARAMS parameters) again on every execution, and never prepares it:
    the one-statement completion of a job with one file stays under both."""
    columns = ("bytes_downloaded", "downloaded", "finished_at", "lease_expires_at", "message")
    columns += ("progress", "result", "status", "updated_at")
    compiled = chained._statement(columns, True, 1).compile(dialect=postgresql.psycopg.dialect())
    assert len(str(compiled)) <= psycopg_queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(compiled.params) <= psycopg_queries.MAX_CACHED_STATEMENT_PARAMS


def test_a_chained_completion_counts_sources_users_and_slot_edges_as_the_rows_say(
    runtime: Runtime,
) -> None:
    """The rollup change the one statement computes in SQL (the result's sources before and
    after, the finish, the files, per user, at a slot's last microsecond) is what counting
    the rows gives."""
    owner = create_user(runtime.Session, "chained-owner", "a long password 1").id
    edge = SLOT_START + (utcnow() - SLOT_START) // rollup.SLOT * rollup.SLOT - rollup.SLOT
    for user_id, created in ((owner, edge - timedelta(microseconds=1)), (None, edge)):
        record = job_record(created, user_id)
        runtime.store.insert(record)
        held = _claimed(runtime, "w1")
        assert held.id == record.id
        before = {"sources": {"selftest": {"found": 2, "stored": 1}, "gone": {"error": "down"}}}
        assert runtime.store.progress(held.id, "w1", held.lease_token, result=before)
        after = {
            "sources": {
                "selftest": {"found": 5, "stored": 3, "error": ""},
                "url": {"found": 1, "stored": 0, "error": "refused"},
            }
        }
        rows = _assets(held.id, [0, 7])
        rows[1].created_at = edge  # the first microsecond of a slot
        then = NextClaim("w1", 30)
        assert runtime.store.complete(
            held.id, "w1", "done", held.lease_token, assets=rows, then=then, result=after
        )
        assert then.job is None
        assert _rollup_matches_rows(runtime)


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_claim_finds_its_row_by_the_primary_key_without_statistics(runtime: Runtime) -> None:
    """On a new table (no statistics yet: a new database, a burst of jobs) the claims, alone
    and chained, update the locked candidate through the primary key: before, the planner
    took the status index and filtered every pending job by id, on every claim."""
    for i in range(200):
        _create(runtime, f"q{i}")
    with statements(runtime) as every:
        held = _claimed(runtime, "w1")
        then = NextClaim("w1", 30)
        assert runtime.store.complete(held.id, "w1", "done", held.lease_token, then=then)
    sent = [(sql, params) for sql, params in every if "FOR UPDATE SKIP LOCKED" in sql]
    assert len(sent) == 2  # the claim, then the completing statement with its claim
    with runtime.engine.connect() as conn:
        for sql, params in sent:
            plan = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + sql, params).scalars().all()
            assert any("pk_scrape_jobs" in line for line in plan), plan
            assert not [line for line in plan if "Filter: ((id)::text =" in line], plan


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_completion_whose_pooled_connection_died_is_run_again_on_a_new_one(
    runtime: Runtime,
) -> None:
    """The driver runs the statement itself: a connection lost in the pool (a restart, an
    idle timeout) is still raised as SQLAlchemy's, invalidated, and the write retried on a
    new connection, as before; nothing is written twice."""
    worker_rt = Runtime(runtime.settings, pre_ping=False, kept_connections=1)
    try:
        first, second = _create(worker_rt, "a"), _create(worker_rt, "b")
        held = _claimed(worker_rt, "w1")
        with worker_rt.engine.connect() as conn:  # the pool's one connection, then back
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with runtime.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        rows = _assets(first, [0])
        then = NextClaim("w1", 30)
        failed: list[BaseException] = []
        with driver_run(lambda *_: None, failed):
            written = worker_rt.store.complete(
                first, "w1", "done", held.lease_token, assets=rows, then=then, downloaded=1
            )
        assert written and then.job is not None and then.job.id == second
        assert len(failed) == 1 and isinstance(failed[0], OperationalError), failed
        assert failed[0].connection_invalidated
        assert _stored_sizes(worker_rt, first) == [100]
        assert _rollup_matches_rows(worker_rt)
    finally:
        worker_rt.close()
