"""Ctrl-C during a retried DDL statement stops the retries, even when Python drops the
KeyboardInterrupt because it landed in a finaliser; a lock timeout alone is retried."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from ops.schema.execute import upgrade_with_retries


def test_a_lock_timeout_is_retried_when_no_one_pressed_ctrl_c(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    attempts: list[int] = []

    def upgrade() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            orig = psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
            raise OperationalError("CREATE INDEX CONCURRENTLY ix ON t (c)", {}, orig)

    with engine.connect() as conn:
        upgrade_with_retries(conn, upgrade, attempts=3)
    assert len(attempts) == 2
    engine.dispose()


_DROPPED_IN_A_FINALISER = """
import os, signal, sys
import sqlalchemy as sa
from ops.schema.execute import catch_interrupts, upgrade_with_retries

if sys.argv[1] == "catch":
    catch_interrupts()

class Collected:
    def __del__(self):  # Ctrl-C lands while a finaliser runs: Python prints it and drops it
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))

Collected()
ran = []
with sa.create_engine("sqlite://").connect() as conn:
    try:
        upgrade_with_retries(conn, lambda: ran.append(1))
    except KeyboardInterrupt:
        print("stopped")
print("ran" if ran else "not run")
"""


@pytest.mark.parametrize(
    ("mode", "expected"), [("catch", "stopped\nnot run\n"), ("default", "ran\n")]
)
def test_ctrl_c_dropped_by_a_finaliser_still_stops_the_next_attempt(
    mode: str, expected: str
) -> None:
    """Without the remembered interrupt (`default`) the dropped Ctrl-C is lost and the
    migration runs; with it (`ops migrate` installs it) the next attempt stops."""
    done = subprocess.run(
        [sys.executable, "-c", _DROPPED_IN_A_FINALISER, mode],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert done.stdout == expected, done.stderr
    assert "KeyboardInterrupt" in done.stderr  # the finaliser's interrupt was printed, dropped
