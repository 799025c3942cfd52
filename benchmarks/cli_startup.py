"""Whole-process time of `ops --help` and `ops doctor` on SQLite (issue 29: < 0.3 s, < 1 s).

Run: .venv/bin/python benchmarks/cli_startup.py [--runs 10]
Prints the median, min and max wall time of each command, run as a fresh process each time
against a fresh initialised SQLite database and data directory, with the median CPU time
(user + system: what a loaded machine does not inflate much) and the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPS = [sys.executable, "-m", "ops.cli"]


def timed(command: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run."""
    took, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=False)
        took.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        env = {
            **os.environ,
            "SCRAPER_DATABASE_URL": f"sqlite:///{Path(tmp) / 'scraper.db'}",
            "SCRAPER_DATA_DIR": str(data),
        }
        subprocess.run([*OPS, "init-db"], env=env, capture_output=True, check=True)
        for label, command in (
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("ops --help", [*OPS, "--help"]),
            ("ops doctor", [*OPS, "doctor"]),
        ):
            took, cpu = timed(command, env, args.runs)
            print(
                f"{label:16} median {statistics.median(took):.3f} s  "
                f"min {min(took):.3f} s  max {max(took):.3f} s  "
                f"cpu {statistics.median(cpu):.3f} s  ({args.runs} runs, "
                f"load {os.getloadavg()[0]:.2f})"
            )


if __name__ == "__main__":
    main()
