"""HTTP errors: one exception for the API, rendered as `{"error", "message"}` in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, NotFound

from healthchecks.refusal import RefusalKind, classify
from scraper.errors import JournalUnavailable, one_line


class ApiError(Exception):
    """An API failure with its HTTP status, a stable code and a human message.

    `field` is the first field at fault; `fields` maps every top-level field at fault to its
    own sentence (a form shows each beside its field). Given `field` alone, `fields` is that
    field with the message (its "field: " prefix dropped).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.fields = dict(fields) if fields is not None else _one_field(field, message)


def _one_field(field: str | None, message: str) -> dict[str, str]:
    if not field:
        return {}
    top = re.split(r"[.\[]", field, maxsplit=1)[0]
    return {top: message.removeprefix(f"{field}: ")}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    fields: Mapping[str, str] | None = None,
    **extra: str,
) -> Response:
    """The JSON body every API error has (`field` and `fields` when a field is at fault;
    `extra`: what one kind of error adds)."""
    body: dict[str, Any] = {"error": code, "message": message}
    if field:
        body["field"] = field
    if fields:
        body["fields"] = dict(fields)
    body |= extra
    response = jsonify(body)
    response.status_code = status
    return response


def wants_json() -> bool:
    """API paths answer errors in JSON; pages answer in HTML."""
    return request.path.startswith("/api/")


def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.fields)


def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    message = f"CSRF check failed: {exc.description}"
    if wants_json():
        return error_response(400, "csrf_failed", message)
    return render_template("error.html", status=400, message=message), 400


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    if not wants_json():
        if exc.code is not None and exc.code >= 400 and exc.code not in (405,):
            return _page_error(exc.code, exc.name, _in_our_words(exc))
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or code)


def _in_our_words(exc: HTTPException) -> str:
    """The page's sentence: ours for a plain 404, not Werkzeug's "check your spelling"."""
    if isinstance(exc, NotFound) and exc.description == NotFound.description:
        return f"There is no page at {request.path[:200]}. The dashboard links to every page."
    return exc.description or exc.name


def _database_error(exc: SQLAlchemyError) -> ResponseReturnValue:
    reason = one_line(exc)
    message = f"the database {_what_happened(exc)} ({reason}); run `ops doctor`"
    if wants_json():
        return error_response(503, "database_unavailable", message)
    return unavailable_page(message)


_NO_ANSWER = {RefusalKind.CONNECTION, RefusalKind.LOCKED, RefusalKind.TIMEOUT, RefusalKind.OTHER}


def _what_happened(exc: SQLAlchemyError) -> str:
    """A refusal (no privilege, a missing table, a read-only server) is not an outage: the
    person reading the 503 should look at the grant or the schema, not the server's uptime."""
    if classify(exc).kind in _NO_ANSWER:
        return "could not answer"
    return "refused the request"


def unavailable_page(message: str, held: list[dict[str, Any]] | None = None) -> ResponseReturnValue:
    """The 503 page: it must render without the database (the signed-in user is not looked up)."""
    g.database_down = True
    page = render_template(
        "error.html", status=503, title="Database unavailable", message=message, held=held or []
    )
    return page, 503


def _page_error(status: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("error.html", status=status, title=title, message=message), status


def _journal_error(exc: JournalUnavailable) -> ResponseReturnValue:
    message = (
        f"the database refused the job and the fallback journal cannot hold it ({exc.reason}); "
        "nothing was stored, retry later (run `ops doctor`)"
    )
    if wants_json():
        return error_response(503, "journal_unavailable", message)
    return render_template("error.html", status=503, message=message), 503


def init_app(app: Flask) -> None:
    """Render API errors as JSON, database failures as 503, CSRF failures as a plain 400."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(JournalUnavailable, _journal_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _unexpected(exc: Exception) -> ResponseReturnValue:
    """A styled 500 (logged with its traceback by Flask); JSON on the API."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unhandled error on %s", request.path, exc_info=exc)
    message = "Something went wrong on our side; the error was logged."
    if wants_json():
        return error_response(500, "internal_error", message)
    return _page_error(500, "Internal server error", message)
