"""A racing firer, run as its own process by test_exactly_once: at each agreed wall-clock
instant it fires the same schedule's tick and prints what it did as one JSON line.

    python -m tests.scraper.schedules.racer SCHEDULE_ID START ROUNDS

With RACER_WIDEN=S every racer pauses S seconds between reading the schedule and writing
(inside its transaction), so racers read a tick as due before its winner commits: the run
row's unique key, not timing, must then turn them away.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from typing import Any

from scraper.runtime import Runtime
from scraper.schedules import cron, fire_one
from tests.scraper.schedules.helpers import at

GAP = 0.5  # seconds between two rounds
HOST = os.environ.get("RACER_HOST", "local")  # the namespace "host" it runs in, if any
WIDEN = float(os.environ.get("RACER_WIDEN", "0"))


def _widened(original: Any) -> Any:
    def next_tick(*args: Any) -> Any:  # called after the read, before the first write
        time.sleep(WIDEN)
        return original(*args)

    return next_tick


def main(schedule_id: int, start: float, rounds: int) -> None:
    if WIDEN:
        cron.next_tick = _widened(cron.next_tick)
    runtime = Runtime.from_env()
    with runtime.engine.connect():  # connect before the race, not during it
        pass
    for n in range(rounds):
        time.sleep(max(0.0, start + n * GAP - time.time()))
        now = at(11, 0, 5) + timedelta(hours=n)
        fired = fire_one(runtime.Session, schedule_id, now, fired_by=f"racer:{os.getpid()}")
        line = {"round": n, "result": fired.result, "job": fired.job_id, "host": HOST}
        print(json.dumps(line), flush=True)
    runtime.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
