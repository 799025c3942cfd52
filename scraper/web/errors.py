"""HTTP errors: one exception for the API, rendered as `{"error", "message"}` in one place."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from scraper.db import first_line


class ApiError(Exception):
    """An API failure with its HTTP status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The JSON body every API error has."""
    body: dict[str, str] = {"error": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def wants_json() -> bool:
    """API paths answer errors in JSON; pages answer in HTML."""
    return request.path.startswith("/api/")


def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.code, exc.message, exc.field)


def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    message = f"CSRF check failed: {exc.description}"
    if wants_json():
        return error_response(400, "csrf_failed", message)
    return render_template("error.html", status=400, message=message), 400


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    if not wants_json():
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or code)


def _database_error(exc: SQLAlchemyError) -> ResponseReturnValue:
    reason = first_line(exc)
    message = f"the database could not answer ({reason}); run `ops doctor`"
    if wants_json():
        return error_response(503, "database_unavailable", message)
    return render_template("error.html", status=503, message=message), 503


def init_app(app: Flask) -> None:
    """Render API errors as JSON, database failures as 503, CSRF failures as a plain 400."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
