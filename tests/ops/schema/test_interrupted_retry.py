"""Ctrl-C during a retried DDL statement stops the retries, even when the driver reports
another error in its place (psycopg cancels the statement on KeyboardInterrupt; if the
statement's lock timeout fires first, that error is raised with the interrupt as its context)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from ops.schema.execute import upgrade_with_retries


def _lock_timeout_after_ctrl_c() -> OperationalError:
    """The error psycopg raises when a lock timeout beats the cancel Ctrl-C sent."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise psycopg.errors.LockNotAvailable(
                "canceling statement due to lock timeout"
            ) from None  # `from None` hides the context from tracebacks; it is still set
    except psycopg.errors.LockNotAvailable as orig:
        return OperationalError("CREATE INDEX CONCURRENTLY ix ON t (c)", {}, orig)


def _lock_timeout() -> OperationalError:
    orig = psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
    return OperationalError("CREATE INDEX CONCURRENTLY ix ON t (c)", {}, orig)


@pytest.mark.parametrize(
    ("error", "outcome", "calls"),
    [(_lock_timeout_after_ctrl_c, KeyboardInterrupt, 1), (_lock_timeout, None, 2)],
    ids=["interrupted", "lock-timeout-only"],
)
def test_a_lock_timeout_standing_in_for_ctrl_c_is_an_interrupt_not_a_retry(
    tmp_path: Path, error: object, outcome: type[BaseException] | None, calls: int
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    attempts: list[int] = []

    def upgrade() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise error()  # type: ignore[operator]

    with engine.connect() as conn:
        if outcome is None:
            upgrade_with_retries(conn, upgrade, attempts=3)
        else:
            with pytest.raises(outcome):
                upgrade_with_retries(conn, upgrade, attempts=3)
    assert len(attempts) == calls
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
