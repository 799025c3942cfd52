"""Idle `scraper worker` processes of one host on PostgreSQL: one connection for the fleet.

One elected leader holds a connection, listens and polls; the followers hold none and beat
now and then. A queued job is claimed at once, a burst spreads over several processes, and a
SIGKILLed leader or its killed connection costs at most a poll interval.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from scraper.jobs import NewJob
from scraper.runtime import Runtime
from scraper.worker.election import LOCK_NAME
from tests.plugins.fleet import terminate_sessions
from tests.plugins.processes import CLAIMED, Spawn, scraper_env
from tests.plugins.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize(
        "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
    ),
]
FLEET_APP = "scraper-fleet"  # the fleet's sessions, told apart from the test's
POLL = 3.0

Fleet = Callable[..., list[subprocess.Popen[bytes]]]


@pytest.fixture
def fleet(runtime: Runtime, spawn: Spawn) -> Iterator[Fleet]:
    """Start `n` idle `scraper worker` processes on the test's database and data directory,
    polling every POLL seconds; wait until each has beaten."""
    url = make_url(runtime.settings.database_url).update_query_dict({"application_name": FLEET_APP})
    env = scraper_env(
        url.render_as_string(hide_password=False),
        runtime.settings.data_dir,
        SCRAPER_AUTO_HEAL="off",
    )

    def start(n: int, poll: float = POLL) -> list[subprocess.Popen[bytes]]:
        polling = env | {"SCRAPER_POLL_INTERVAL": str(poll)}
        procs = [spawn("worker", env=polling, log_name="worker") for _ in range(n)]
        wait_until(lambda: beating(runtime) >= n, 120, f"{n} workers to beat")
        wait_until(lambda: leader_pid(runtime) is not None, 10, "a leader")
        return procs

    yield start


def beating(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM worker_heartbeats")) or 0)


FLEET_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name = :app"
)


def sessions(runtime: Runtime) -> int:
    """The fleet's sessions on the database now."""
    with create_engine(runtime.settings.database_url, poolclass=NullPool).connect() as conn:
        return int(conn.scalar(FLEET_SESSIONS, {"app": FLEET_APP}) or 0)


def sessions_while(runtime: Runtime, busy: Callable[[], bool]) -> list[int]:
    """The fleet's sessions, sampled on one autocommit connection (each sample a fresh
    snapshot) as often as it answers, while `busy()`."""
    engine = create_engine(
        runtime.settings.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    counts = []
    with engine.connect() as conn:
        while busy():
            counts.append(int(conn.scalar(FLEET_SESSIONS, {"app": FLEET_APP}) or 0))
    engine.dispose()
    return counts


def leader_pid(runtime: Runtime) -> int | None:
    """The process holding the election's flock (from /proc/locks), if any."""
    inode = os.stat(runtime.settings.data_dir / LOCK_NAME).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if fields[1] == "FLOCK" and int(fields[5].rsplit(":", 1)[1]) == inode:
            return int(fields[4])
    return None


def claimed_within(runtime: Runtime, seconds: float, query: str = "wake") -> float:
    started = time.monotonic()
    job = runtime.jobs.create(NewJob(query=query, max_content=1))
    wait_until(lambda: runtime.store.get(job.id).status != "pending", seconds, "the claim")
    return time.monotonic() - started


def claimers(procs: list[subprocess.Popen[bytes]]) -> set[str]:
    """The worker ids that claimed a job, from the processes' logs."""
    logs = [p.log_path.read_text() for p in procs]  # type: ignore[attr-defined]
    return {m.group(2) for log in logs for m in CLAIMED.finditer(log)}


def test_ten_idle_worker_processes_hold_one_connection_and_share_a_burst(
    runtime: Runtime, fleet: Fleet
) -> None:
    procs = fleet(10)
    runtime.engine.dispose()  # the test's own pool holds nothing from here on
    counts = []
    for _ in range(20):
        counts.append(sessions(runtime))
        time.sleep(0.15)
    assert max(counts) <= 3 and statistics.median(counts) <= 1, counts

    for _ in range(3):  # the leader listens: no waiting for its poll
        assert claimed_within(runtime, 1.5) < 1.5
    burst = [runtime.jobs.create(NewJob(query=f"burst {i}", max_content=1)) for i in range(30)]
    wait_until(
        lambda: all(runtime.store.get(j.id).status == "completed" for j in burst), 60, "the burst"
    )
    assert len(claimers(procs)) >= 3, claimers(procs)
    time.sleep(1.0)  # the burst's workers are idle again: followers close their connections
    assert max(sessions(runtime) for _ in range(5)) <= 3

    for proc in procs:  # a fleet stopped at once: the followers' last beats take turns
        proc.send_signal(signal.SIGTERM)
    stopping = sessions_while(runtime, lambda: any(p.poll() is None for p in procs))
    assert [p.wait(30) for p in procs] == [0] * len(procs)
    # Taking turns, not ten at once: the stopping leader's listener and its last write, one
    # follower's last beat through the connect slot, and a follower that took the lead as the
    # leader let go (docs/deployment.md: a peak of 4 when 100 stopped at once).
    assert max(stopping) <= 4, stopping
    with runtime.engine.connect() as conn:
        states = conn.scalars(text("SELECT state FROM worker_heartbeats")).all()
    assert states == ["stopped"] * len(procs)


def settled(runtime: Runtime, kept: int = 1) -> None:
    """Wait until every job is done and the fleet is idle: the leader's one session left
    (`kept`: and a stand-in's)."""
    wait_until(
        lambda: set(runtime.store.count_by_status()) <= {"completed"} and sessions(runtime) <= kept,
        10,
        "the fleet to settle",
    )


def test_a_sigkilled_leader_hands_over_and_a_killed_listener_costs_one_poll(
    runtime: Runtime, fleet: Fleet
) -> None:
    procs = fleet(3)
    leader = leader_pid(runtime)
    assert leader in {p.pid for p in procs}
    os.kill(leader, signal.SIGKILL)
    wait_until(lambda: leader_pid(runtime) not in (None, leader), 5, "a new leader")
    assert claimed_within(runtime, POLL + 1.0) < POLL + 1.0

    settled(runtime)
    assert terminate_sessions(runtime, FLEET_APP) == 1  # the leader's one, which listens
    assert claimed_within(runtime, POLL + 1.5) < POLL + 1.5
    settled(runtime)
    assert claimed_within(runtime, 1.5) < 1.5  # listening again


def test_a_stopped_leader_is_stood_in_for_until_it_polls_again(
    runtime: Runtime, fleet: Fleet
) -> None:
    """A leader alive but not polling (SIGSTOP, a hung thread) keeps the lock: after ten of its
    polls (at least 5 s) one follower claims in its place; once it runs again, it leads."""
    procs = fleet(3, poll=0.5)
    leader = leader_pid(runtime)
    assert leader is not None
    os.kill(leader, signal.SIGSTOP)
    try:
        assert claimed_within(runtime, 10.0) < 10.0
        settled(runtime, kept=2)  # the stopped leader's session, and its stand-in's
        assert claimed_within(runtime, 2.0) < 2.0  # a stand-in goes on polling
        stood_in = stand_ins(procs)
        assert stood_in >= 1
    finally:
        os.kill(leader, signal.SIGCONT)
    assert leader_pid(runtime) == leader
    settled(runtime)
    assert claimed_within(runtime, 1.5) < 1.5
    assert stand_ins(procs) == stood_in  # the leader polls again: nobody stands in


def stand_ins(procs: list[subprocess.Popen[bytes]]) -> int:
    return sum(p.log_path.read_text().count("standing in") for p in procs)  # type: ignore[attr-defined]
