"""Bounds on what a client may send, in one place: a client's mistake is a 400, never a 5xx.

- Text: no NUL character (PostgreSQL refuses it in text, SQLite and MariaDB store it and then
  match nothing) and no unpaired surrogate, in the path, any query or form value, or any string
  or key of a JSON body.
- JSON bodies: at most `MAX_JSON_DEPTH` levels deep, checked on the raw bytes before parsing
  (a body nested thousands deep would otherwise exhaust the parser's recursion).
- Instants: clamped to what every database stores (MariaDB's DATETIME: years 1000 to 9999, in
  UTC). No row is outside that range, so a clamped filter selects the same rows, and a date near
  the ends with a far offset (`9999-12-31T23:59:59-14:00`) no longer overflows on conversion.
- Page numbers: whole numbers whose offset a database can take.

`init_app` checks the text of every request before its view runs and renders `BadParameter` as
the API's `invalid_request` (JSON) or as the error page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue

from scraper.web.errors import error_response, wants_json

EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# No body this API takes nests deeper than 3; 32 leaves room and stays far from recursion limits.
MAX_JSON_DEPTH = 32
# The largest offset every dialect takes as an integer (PostgreSQL's INTEGER ids bound the rest).
MAX_OFFSET = 2**31 - 1

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
_DIGITS = re.compile(r"[0-9]{1,12}")


class BadParameter(ValueError):
    """A value the request carried that the service cannot take; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


# -- text ------------------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why no database can store `value` (a NUL, an unpaired surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds an unpaired surrogate)"
    return None


def check_text(field: str, value: str) -> None:
    """Raise BadParameter naming `field` when its value cannot be stored."""
    problem = text_problem(value)
    if problem:
        raise BadParameter(field, problem)


def check_request_text() -> None:
    """Refuse a NUL in the path or in any query or form name or value (before any view runs)."""
    check_text("path", request.path)
    for source in (request.args, request.form):
        for name, values in source.lists():
            check_text("parameter name", name)
            for value in values:
                check_text(name, value)


def check_json_text(body: Any) -> None:
    """Refuse a NUL or unpaired surrogate in any string or key of a parsed JSON body."""
    for field, text in _strings(body, ""):
        check_text(field, text)


def _strings(value: Any, at: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield at or "body", key
            yield from _strings(item, f"{at}.{key}" if at else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{at}[{index}]")


# -- JSON depth ------------------------------------------------------------------------------


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped; no parsing)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def check_json_depth(raw: bytes) -> None:
    """Raise BadParameter when the body nests deeper than any request of this API needs."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadParameter("body", f"must not nest arrays and objects over {MAX_JSON_DEPTH} deep")


# -- instants and pages ----------------------------------------------------------------------


def storable_instant(value: datetime) -> datetime:
    """`value` in UTC (naive means UTC), clamped to the years every database stores.

    Comparing aware datetimes never overflows; converting one beyond year 9999 would.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < EARLIEST:
        return EARLIEST
    if value > LATEST:
        return LATEST
    return value.astimezone(UTC)


def page_number(raw: str | None, per_page: int, field: str = "page") -> int:
    """A 1-based page number from a query value (absent: 1); BadParameter if not one."""
    if raw is None or raw.strip() == "":
        return 1
    last = MAX_OFFSET // per_page
    if not _DIGITS.fullmatch(raw.strip()) or not 1 <= int(raw) <= last:
        raise BadParameter(field, f"must be a whole number from 1 to {last}, got {raw[:40]!r}")
    return int(raw)


# -- wiring ----------------------------------------------------------------------------------


def _bad_parameter(exc: BadParameter) -> ResponseReturnValue:
    if wants_json():
        return error_response(400, "invalid_request", str(exc), exc.field or None)
    page = render_template("error.html", status=400, title="Bad request", message=str(exc))
    return page, 400


def init_app(app: Flask) -> None:
    """Check every request's text before its view; render BadParameter as a 400."""
    app.before_request(check_request_text)
    app.register_error_handler(BadParameter, _bad_parameter)
