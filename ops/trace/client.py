"""How a trace talks to the API: over HTTP (`--url`) or to an in-process Flask app."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from ops.errors import OpsError


class TraceCannotRun(OpsError):
    """The trace could not start (server unreachable, token refused): exit code 2."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, whichever transport carried it."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def excerpt(self, limit: int = 300) -> str:
        """The start of the body, for evidence."""
        text = " ".join(self.text.split())
        return text if len(text) <= limit else text[:limit] + "…"


class ApiClient(Protocol):
    """What the trace needs from the API: GET and POST JSON."""

    target: str

    def get(self, path: str) -> Reply: ...

    def post(self, path: str, payload: dict[str, Any]) -> Reply: ...


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class HttpClient:
    """The live API at `base_url`; a connection failure raises TraceCannotRun."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0) -> None:
        self.target = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(_auth(token))

    def get(self, path: str) -> Reply:
        return self._send("GET", path, None)

    def post(self, path: str, payload: dict[str, Any]) -> Reply:
        return self._send("POST", path, payload)

    def close(self) -> None:
        self.session.close()

    def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> Reply:
        url = self.target + path
        try:
            response = self.session.request(method, url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TraceCannotRun(f"cannot reach {url}: {exc}") from exc
        return Reply(response.status_code, response.content, dict(response.headers))


class FlaskClient:
    """An in-process app through Flask's test client (no sockets)."""

    target = "in-process app"

    def __init__(self, test_client: Any, token: str | None) -> None:
        self.client = test_client
        self.headers = _auth(token)

    def get(self, path: str) -> Reply:
        response = self.client.get(path, headers=self.headers)
        return Reply(response.status_code, response.get_data(), dict(response.headers))

    def post(self, path: str, payload: dict[str, Any]) -> Reply:
        response = self.client.post(path, json=payload, headers=self.headers)
        return Reply(response.status_code, response.get_data(), dict(response.headers))
