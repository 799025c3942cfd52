"""Idle workers of one host elect one leader by an flock on a file of their data directory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import event

from scraper.jobs import NewJob
from scraper.runtime import Runtime
from scraper.worker.election import LOCK_NAME, Election
from scraper.worker.run import JobRun
from tests.plugins.fleet import idle_host
from tests.plugins.waiting import wait_until


class Candidate:
    """An election with what its callbacks saw: how often it was told to lead and follow."""

    def __init__(self, data_dir: Path) -> None:
        self.led = threading.Event()
        self.followed = threading.Event()
        self.election = Election(data_dir, self.led.set, self.followed.set)


@pytest.fixture
def candidates(tmp_path: Path) -> Iterator[list[Candidate]]:
    made = [Candidate(tmp_path) for _ in range(3)]
    yield made
    for c in made:
        c.election.close()


def leaders(candidates: list[Candidate]) -> list[int]:
    return [i for i, c in enumerate(candidates) if c.election.leading]


def test_one_of_several_workers_leads_and_the_others_follow(
    candidates: list[Candidate], tmp_path: Path
) -> None:
    for c in candidates:
        c.election.start()
        c.election.want(True)
    assert leaders(candidates) == [0]  # the first asks, the lock is free: it leads at once
    assert candidates[0].led.is_set()
    for c in candidates[1:]:
        wait_until(c.followed.is_set, 2, "the followers to follow")
        assert not c.led.is_set()
    assert (tmp_path / LOCK_NAME).exists()


def test_a_leader_that_wants_no_more_hands_over_to_one_follower(
    candidates: list[Candidate],
) -> None:
    for c in candidates:
        c.election.start()
        c.election.want(True)
    for c in candidates[1:]:
        wait_until(c.followed.is_set, 2, "the followers to follow")
    candidates[0].election.want(False)  # its every slot is busy
    wait_until(lambda: len(leaders(candidates)) == 1 and leaders(candidates) != [0], 2, "a new one")
    assert sum(c.led.is_set() for c in candidates[1:]) == 1
    candidates[0].election.want(True)  # free again: it waits behind the new leader
    wait_until(candidates[0].followed.is_set, 2, "the old leader to follow")
    assert len(leaders(candidates)) == 1 and not candidates[0].election.leading


def test_a_closed_leader_lets_go_and_a_follower_leads(candidates: list[Candidate]) -> None:
    first, second, _ = candidates
    for c in (first, second):
        c.election.start()
        c.election.want(True)
    wait_until(second.followed.is_set, 2, "the second to follow")
    first.election.close()
    wait_until(second.led.is_set, 2, "the second to lead")
    assert second.election.leading and not first.election.leading


def test_a_worker_that_cannot_open_the_lock_file_leads_alone(tmp_path: Path) -> None:
    alone = Candidate(tmp_path / "missing")  # no such directory: no lock file
    alone.election.start()
    assert alone.election.leading and alone.led.is_set()
    alone.election.want(True)
    alone.election.want(False)
    assert alone.election.leading  # polls as every worker did before
    assert not (tmp_path / "missing").exists()


def test_idle_followers_send_nothing_while_the_leader_polls_and_all_share_a_burst(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three idle workers on one data directory, polling every 50 ms: the leader alone sends
    statements (its polls); the followers none, between their rare beats. A burst of jobs is
    done by them all together."""
    # Each job takes 0.3 s, as a download does: with instant jobs one worker's chained claims
    # could finish the whole burst before a follower, woken on the lock, had connected (seen
    # once in CI on a loaded machine: [6, 0, 0]).
    execute = JobRun.execute
    monkeypatch.setattr(JobRun, "execute", lambda run: (time.sleep(0.3), execute(run))[1])
    with idle_host(runtime, lease_seconds=3) as (runtimes, workers):
        time.sleep(0.5)  # every worker's first beat is done
        sent = [0] * len(workers)
        for i, rt in enumerate(runtimes):
            event.listen(rt.engine, "before_cursor_execute", partial(_count, sent, i))
        leader = next(i for i, w in enumerate(workers) if w.election.leading)
        time.sleep(1.0)
        assert sent[leader] >= 5 and sum(sent) == sent[leader], sent
        ids = [runtime.jobs.create(NewJob(query=f"b{i}", max_content=1)).id for i in range(6)]
        done = {"completed": len(ids)}
        wait_until(lambda: runtime.store.count_by_status() == done, 15, "the burst")
        assert sum(1 for w in workers if w.jobs_done) >= 2, [w.jobs_done for w in workers]


def _count(sent: list[int], i: int, *_args: object) -> None:
    sent[i] += 1
