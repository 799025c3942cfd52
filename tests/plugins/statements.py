"""The SQL a piece of code sends, as sent: to assert what a read runs and what it skips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event


@contextmanager
def sent_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement the engine's connections send inside the block."""
    seen: list[str] = []

    def keep(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def statements_of(engine: Engine, read: Callable[[], Any]) -> list[str]:
    """The statements `read` sends."""
    with sent_statements(engine) as seen:
        read()
    return seen
