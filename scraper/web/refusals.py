"""A guess, before the app runs, that a request will find no read slot (`fairness`).

`scraper.web.lanes` sends such a request to a lane of its own: one thread that answers at
most one every PACE seconds. Clients that ask again at once after a 429 (400-800 refusals a
second in docs/benchmarks.md) then cost one thread's paced work instead of every thread's
CPU, and the probe's lane and the reads keep the GIL. The app still decides: a request
guessed wrongly (its slot freed meanwhile) is served in full, only later.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from scraper.accounts import RecentTokens
from scraper.web.auth import TOKENS_KEY
from scraper.web.fairness import EXTENSION, ReadSlots
from scraper.web.operation import operation_of

PACE = 0.02  # seconds the refusal lane waits before each answer: at most 50 a second


def likely_refused(app: Flask, method: str, path: str, authorization: str) -> bool:
    """True when `path` is an expensive read and the bearer token's user (confirmed within
    the tokens' fresh window), or everyone, holds every read slot now."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    tokens: RecentTokens = app.extensions[TOKENS_KEY]
    account = tokens.recall(token.strip(), max_age=tokens.fresh)
    if account is None:
        return False
    slots: ReadSlots = app.extensions[EXTENSION]
    if slots.running(account.id) < slots.per_user and slots.running() < slots.total:
        return False
    return _expensive(app, method, path)


def _expensive(app: Flask, method: str, path: str) -> bool:
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=method)
    except HTTPException:  # no such route, or a redirect: not a read
        return False
    operation = operation_of(app.view_functions[endpoint], method)
    return operation is not None and operation.expensive
