"""Exactly once per tick with real processes: four firers race for the same tick, round after
round, on PostgreSQL and MariaDB; each tick creates one job (the run row's unique key).

The racers widen the gap between reading the schedule and writing (RACER_WIDEN), so racers
read a tick as due while its winner has not committed yet: timing cannot save a second job
there, only the database's unique key can (and the test checks that it had to)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper.models import ScheduleRun
from scraper.runtime import Runtime
from tests.plugins.processes import scraper_env
from tests.scraper.schedules.helpers import hourly, jobs_of, owner

RACERS, ROUNDS = 4, 8
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_four_processes_firing_the_same_ticks_create_one_job_per_tick(
    runtime: Runtime, tmp_path: Path
) -> None:
    sid = hourly(runtime.Session, owner(runtime.Session))
    env = scraper_env(runtime.settings.database_url, tmp_path, RACER_WIDEN="0.3")
    start = time.time() + 6  # every racer is connected and waiting by then
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scraper.schedules.racer",
                str(sid),
                str(start),
                str(ROUNDS),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(RACERS)
    ]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert all(r.returncode == 0 for r in racers), [err.decode()[-2000:] for _, err in outputs]
    lines = [json.loads(line) for out, _ in outputs for line in out.decode().splitlines()]
    assert len(lines) == RACERS * ROUNDS
    fired = Counter(line["round"] for line in lines if line["result"] == "fired")
    assert fired == {n: 1 for n in range(ROUNDS)}, lines
    jobs = jobs_of(runtime.Session, sid)
    assert len(jobs) == ROUNDS
    assert sorted(j.id for j in jobs) == sorted(l["job"] for l in lines if l["job"])  # noqa: E741
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ScheduleRun)) == ROUNDS
    results = Counter(line["result"] for line in lines)
    print(f"racers' results over {ROUNDS} ticks: {dict(results)}")
    # Racers that read a tick as due after its winner had: the unique key turned them away
    # (the rest read it after the winner committed, and found it not due).
    assert results["already_fired"] > 0, results
