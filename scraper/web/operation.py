"""An operation's contract, declared on its view: what it takes (validated) and answers.

`@documented(...)` under the route decorator validates a JSON `body` and a `query` string with
their pydantic models and passes them to the view, and records the metadata from which
`openapi.build_document` writes the view's operation: the document is generated from the
routes the app really has, with the models that really validate and answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from scraper.web.bounds import check_json_depth, check_json_text
from scraper.web.context import current_runtime
from scraper.web.errors import ApiError
from scraper.web.fairness import limited
from scraper.web.schemas import describe_errors, field_problems

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__openapi__"
ALL_METHODS = "*"
PAGE_NUMBER = {"type": "integer"}  # a list page's `page`
POSTED = (302, 400, 413, 503)  # what a form post may answer


@dataclass(frozen=True)
class Operation:
    """What the document says of one view (and, for the API, what the view is handed).

    `summary` defaults to the first line of the view's docstring. `responses` adds or replaces
    answers: a model (JSON) or a raw OpenAPI response object, by status code.
    """

    summary: str | None = None
    body: type[BaseModel] | None = None  # a JSON body, validated and passed as `body`
    query: type[BaseModel] | None = None  # the query string, validated and passed as `query`
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    responses: Mapping[int, type[BaseModel] | dict[str, Any]] = field(default_factory=dict)
    page: bool = False  # an HTML page or form post (its errors are pages too; never validated)
    form: Mapping[str, Any] | None = None  # a page's urlencoded fields (JSON Schema each)
    params: Mapping[str, Any] = field(default_factory=dict)  # path/query parameter schemas
    public: bool = False  # no sign-in needed
    expensive: bool = False  # takes a read slot (`fairness`): 429 / 503 when none is free
    description: str | None = None


def documented(method: str = ALL_METHODS, **contract: Any) -> Callable[[F], F]:
    """Declare a view's operation (for one `method` of a multi-method view, or all of them)."""
    operation = Operation(**contract)

    def decorate(view: F) -> F:
        wrapped = view if operation.page else _validating(view, operation)
        if operation.expensive:
            wrapped = limited(wrapped)
        operations: dict[str, Operation] = dict(getattr(view, ATTRIBUTE, {}))
        operations[method.upper()] = operation
        setattr(wrapped, ATTRIBUTE, operations)
        return wrapped

    return decorate


def operation_of(view: Callable[..., Any], method: str) -> Operation | None:
    """The operation declared for `method` of this view, if any."""
    operations: dict[str, Operation] = getattr(view, ATTRIBUTE, {})
    return operations.get(method.upper()) or operations.get(ALL_METHODS)


def _validating(view: F, operation: Operation) -> F:
    if operation.body is None and operation.query is None:
        return view
    body_model, query_model = operation.body, operation.query

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if body_model is not None:
            kwargs["body"] = validate(body_model, json_body(), strict=True)
        if query_model is not None:
            kwargs["query"] = query_args(query_model)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def validate(model: type[M], data: Any, strict: bool) -> M:
    """Validate with the app's limits; ApiError(400) names every bad field."""
    context = {"max_content_limit": current_runtime().settings.max_content_limit}
    try:
        return model.model_validate(data, strict=strict, context=context)
    except ValidationError as exc:
        field_name, message = describe_errors(exc)
        problems = field_problems(exc)
        raise ApiError(400, "invalid_request", message, field_name, problems) from None


def json_body() -> Any:
    """The parsed JSON body; 400 for another content type, malformed JSON, a body nested
    deeper than any request needs, or text no database stores (`bounds`)."""
    if not request.is_json:
        # 400, as the contract says of every invalid input (and a form post, which a
        # cross-site page can make, is never read as JSON).
        raise ApiError(
            400, "unsupported_content_type", "send the body as Content-Type: application/json"
        )
    check_json_depth(request.get_data(cache=True))
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    check_json_text(body)
    return body


def query_args(model: type[M]) -> M:
    """Validate the query string (strings converted to numbers, lax); nothing undocumented.

    An empty value (`?limit=`), a repeated or an unknown parameter is a 400 naming it.
    """
    for name, values in request.args.lists():
        if name not in model.model_fields:
            raise ApiError(400, "invalid_request", f"{name}: unknown query parameter", name)
        if len(values) > 1:
            raise ApiError(400, "invalid_request", f"{name}: given more than once", name)
        if values[0] == "":
            raise ApiError(400, "invalid_request", f"{name}: a value is required", name)
    return validate(model, request.args.to_dict(), strict=False)
