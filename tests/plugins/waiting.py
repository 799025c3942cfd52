"""`wait_until`: poll a condition with a deadline, never sleep a fixed time before asserting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll `predicate` until it is truthy and return its value; AssertionError after `timeout`.

    Polls every 20 ms at first, backing off to 0.2 s, so quick conditions are seen quickly and
    slow ones (a subprocess, a database) are not hammered.
    """
    deadline = time.monotonic() + timeout
    pause = 0.02
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return value
