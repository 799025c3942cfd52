"""The SQL a piece of code sends, as sent: to assert what a read runs and what it skips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event


@contextmanager
def sent_with_parameters(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Collect every statement the engine's connections send inside the block, with its
    parameters as the driver got them (to EXPLAIN it as it ran)."""
    seen: list[tuple[str, Any]] = []

    def keep(conn: Connection, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


@contextmanager
def sent_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement the engine's connections send inside the block (listed once
    the block ends)."""
    with sent_with_parameters(engine) as sent:
        seen: list[str] = []
        yield seen
    seen.extend(statement for statement, _ in sent)


def statements_of(engine: Engine, read: Callable[[], Any]) -> list[str]:
    """The statements `read` sends."""
    with sent_statements(engine) as seen:
        read()
    return seen
