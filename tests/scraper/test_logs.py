"""Structured logs: JSON lines with the job/worker/request context, readable text by default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from scraper.logs import Throttle, configure_logging, log_context, make_handler, request_id_from


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, list[logging.Handler]]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    handlers: list[logging.Handler] = []
    logger.setLevel(logging.INFO)
    yield logger, stream, handlers
    for handler in handlers:
        logger.removeHandler(handler)


def _attach(captured, log_format: str) -> tuple[logging.Logger, io.StringIO]:
    logger, stream, handlers = captured
    handler = make_handler(log_format, stream)
    logger.addHandler(handler)
    handlers.append(handler)
    return logger, stream


def test_json_lines_carry_time_level_logger_message_and_context(captured) -> None:
    logger, stream = _attach(captured, "json")
    logger.info("job %s claimed", "j-1", extra={"job_id": "j-1", "worker": "w-1"})
    logger.warning("plain line")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "job j-1 claimed"
    assert first["level"] == "INFO" and first["logger"] == "tests.logs"
    assert first["job_id"] == "j-1" and first["worker"] == "w-1"
    assert first["time"].endswith("Z")
    assert "job_id" not in second and second["level"] == "WARNING"


def test_log_context_adds_job_and_source_to_every_line_inside(captured) -> None:
    logger, stream = _attach(captured, "json")
    with log_context(job_id="j-2", source="selftest"):
        logger.info("downloading")
        logger.info("explicit wins", extra={"job_id": "j-3"})
    logger.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (lines[0]["job_id"], lines[0]["source"]) == ("j-2", "selftest")
    assert lines[1]["job_id"] == "j-3"
    assert "job_id" not in lines[2]


def test_exceptions_stay_inside_one_json_line(captured) -> None:
    logger, stream = _attach(captured, "json")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logger.exception("failed", extra={"job_id": "j-4"})
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert "ValueError" in entry["exception"] and entry["job_id"] == "j-4"


def test_text_is_the_readable_default_with_context_appended(captured) -> None:
    logger, stream = _attach(captured, "text")
    logger.info("job done", extra={"job_id": "j-5"})
    line = stream.getvalue().strip()
    assert "INFO tests.logs: job done [job_id=j-5]" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_configure_logging_json_switches_the_root_logger() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        configure_logging("json")
        assert any(type(h.formatter).__name__ == "JsonFormatter" for h in root.handlers)
        configure_logging("nonsense")  # unknown formats fall back to text, not a crash
        assert any(type(h.formatter).__name__ == "TextFormatter" for h in root.handlers)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_waitress_queue_depth_warns_once_a_minute_not_per_request() -> None:
    from waitress.task import ThreadedTaskDispatcher

    root, queue = logging.getLogger(), logging.getLogger("waitress.queue")
    saved, level, filters = root.handlers[:], root.level, queue.filters[:]
    kept = Kept()
    try:
        configure_logging("text")
        configure_logging("text")  # twice, as a CLI may: still one throttle
        queue.addHandler(kept)
        dispatcher = ThreadedTaskDispatcher()  # no threads: every task waits in the queue
        for _ in range(54):
            dispatcher.add_task(object())
        assert kept.lines == ["Task queue depth is 1"]
    finally:
        queue.removeHandler(kept)
        queue.filters[:] = filters
        root.handlers[:] = saved
        root.setLevel(level)


def test_a_throttled_line_says_how_many_were_held_back(captured) -> None:
    logger, stream = _attach(captured, "text")
    now = [0.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    logger.addFilter(throttle)
    try:
        for second in range(61):  # one a second for a minute, then one more
            now[0] = second
            logger.warning("Task queue depth is %d", second)
    finally:
        logger.removeFilter(throttle)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "Task queue depth is 0" in lines[0]
    assert "Task queue depth is 60 (59 more such warning(s) held back in the last 60 s)" in lines[1]


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("abc-123", True), ("req.1:2/3", True), ("x" * 200, False), ("bad id", False), ("", False)],
)
def test_request_ids_are_honoured_only_when_sane(incoming: str, kept: bool) -> None:
    assert (request_id_from(incoming) == incoming) is kept


def test_every_response_carries_a_request_id_and_logs_carry_it(
    metrics_app: Flask, captured
) -> None:
    logger, stream = _attach(captured, "json")
    metrics_app.add_url_rule("/_log", "log_probe", lambda: logger.info("in view") or "ok")
    client = metrics_app.test_client()
    echoed = client.get("/_log", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["X-Request-ID"] == "trace-42"
    assert json.loads(stream.getvalue().splitlines()[-1])["request_id"] == "trace-42"
    minted = client.get("/healthz", headers={"X-Request-ID": "no\tgood"})
    assert minted.headers["X-Request-ID"] not in ("no\tgood", "")
    assert client.get("/definitely/missing").headers["X-Request-ID"]
