"""PostgreSQL wakes an idle worker when a job is queued (LISTEN/NOTIFY); polling stays the
fallback when the notification is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from scraper.jobs import NewJob
from scraper.runtime import Runtime
from scraper.worker import Worker
from tests.plugins.fleet import idle_host, terminate_sessions
from tests.plugins.waiting import wait_until

postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
POLL = 5.0
WOKEN = POLL / 2  # claimed within this: woken by the notification, not by the poll


WORKER_APP = "scraper-idle-worker"  # the worker's sessions, told apart from the test's


@pytest.fixture
def idle_worker(runtime: Runtime) -> Iterator[tuple[Runtime, Worker]]:
    """A started worker polling every 5 s, listening, and idle, on its own pool (as `scraper
    worker`); the test's runtime queues and reads jobs through another."""
    url = make_url(runtime.settings.database_url).update_query_dict(
        {"application_name": WORKER_APP}
    )
    own = Runtime(
        runtime.settings.model_copy(
            update={"poll_interval": POLL, "database_url": url.render_as_string(False)}
        ),
        pre_ping=False,
        kept_connections=1,
    )
    worker = Worker(own, downloader=None)
    worker.start()
    try:
        wait_until(worker.wakeup.listening.is_set, 5, "the worker to listen")
        time.sleep(0.3)  # its first (empty) claim is done: the loop waits
        yield runtime, worker
    finally:
        worker.stop()
        own.close()


def claimed_within(runtime: Runtime, seconds: float) -> float:
    """Queue a job; the seconds until a worker claimed it (AssertionError after `seconds`)."""
    started = time.monotonic()
    job = runtime.jobs.create(NewJob(query="wake", max_content=1))
    wait_until(
        lambda: runtime.store.get(job.id).status != "pending", seconds, "the job to be claimed"
    )
    return time.monotonic() - started


@postgres_only
def test_an_idle_worker_claims_a_queued_job_without_waiting_for_its_poll(
    idle_worker: tuple[Runtime, Worker],
) -> None:
    runtime, _worker = idle_worker
    for _ in range(3):
        assert claimed_within(runtime, WOKEN) < WOKEN


@pytest.mark.slow
@postgres_only
def test_a_killed_listener_costs_at_most_one_poll_and_comes_back(
    idle_worker: tuple[Runtime, Worker],
) -> None:
    runtime, worker = idle_worker
    assert terminate_sessions(runtime, WORKER_APP) == 1  # its one connection: it listened
    assert claimed_within(runtime, POLL + 1.0) < POLL + 1.0
    wait_until(worker.wakeup.listening.is_set, 10, "the listener to reconnect")
    time.sleep(0.3)
    assert claimed_within(runtime, WOKEN) < WOKEN


@postgres_only
def test_a_retried_job_wakes_an_idle_worker(
    runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    job = runtime.jobs.create(NewJob(query="again", max_content=1))
    held = runtime.store.claim("elsewhere", 30)
    assert held is not None and runtime.store.fail(job.id, "elsewhere", "boom", held.lease_token)
    slow, _worker = request.getfixturevalue("idle_worker")
    started = time.monotonic()
    runtime.jobs.retry(job.id)
    wait_until(lambda: slow.store.get(job.id).status != "pending", WOKEN, "the retried job's claim")
    assert time.monotonic() - started < WOKEN


def connections_to(runtime: Runtime) -> int:
    """Sessions on the test's database, besides the one asking."""
    with runtime.engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            or 0
        )


@postgres_only
@pytest.mark.slow
def test_idle_workers_of_one_host_hold_one_connection_the_leaders_which_also_listens(
    runtime: Runtime,
) -> None:
    """Three idle workers on one data directory, polling every 50 ms and keeping house every
    0.33 s, each with its own pool as `scraper worker` makes it: one leads and holds the one
    connection (which listens, no listener of its own), the followers hold none; a queued job
    is claimed at once by the leader, and the next leader listens in turn."""
    baseline = connections_to(runtime)  # the test's own pool: one, idle
    with idle_host(runtime, lease_seconds=1.0) as (_runtimes, workers):
        counts = []
        for _ in range(15):
            time.sleep(0.1)
            counts.append(connections_to(runtime) - baseline)
        assert max(counts) <= 2 and sorted(counts)[len(counts) // 2] == 1, counts
        assert [w.wakeup.listening.is_set() for w in workers] == [
            w.election.leading for w in workers
        ]
        job = runtime.jobs.create(NewJob(query="wake the leader", max_content=1))
        wait_until(lambda: runtime.store.get(job.id).status == "completed", 5, "the job")
        wait_until(lambda: sum(w.election.leading for w in workers) == 1, 5, "one leader")
        wait_until(
            lambda: (
                [w.wakeup.listening.is_set() for w in workers]
                == [w.election.leading for w in workers]
            ),
            5,
            "the leader alone to listen",
        )
