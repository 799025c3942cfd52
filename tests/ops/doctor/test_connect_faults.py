"""Connections the field sees refused, each reproduced for real and diagnosed from the driver's
own refusal (issue 29 item 5): nothing listening vs no answer, a name that does not resolve, a
role that does not exist, wrong credentials, a connection limit reached, TLS asked of a server
without it. The doctor names the fault with host and port and the fix, and writes nothing.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.ops.doctor.conftest import FaultEnv

Fault = Callable[[FaultEnv, contextlib.ExitStack], str]  # -> the URL the doctor is given


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(env: FaultEnv, **parts: Any) -> str:
    return make_url(env.url).set(**parts).render_as_string(hide_password=False)


def _refused(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    return _url(env, port=_free_port())


def _silent(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    """A port that accepts connections and never answers (a proxy with no backend)."""
    listener = stack.enter_context(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    query = {"connect_timeout": "1"}
    if env.dialect == "mariadb":
        query["read_timeout"] = "1"  # PyMySQL waits for the greeting with this
    return _url(env, port=listener.getsockname()[1], query=query)


def _unresolvable(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    return _url(env, host="no-such-db-host.invalid")


def _no_role(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    return _url(env, username=f"nobody_{uuid.uuid4().hex[:8]}")


def _role_limit(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    """A role whose connection limit is reached (PostgreSQL CONNECTION LIMIT, MariaDB
    MAX_USER_CONNECTIONS with its one connection held)."""
    user = f"lim_{uuid.uuid4().hex[:8]}"
    database = make_url(env.url).database
    if env.dialect == "postgresql":
        env.sql(f'CREATE ROLE "{user}" LOGIN CONNECTION LIMIT 0')
        stack.callback(env.sql, f'DROP ROLE "{user}"')
        return _url(env, username=user)
    env.sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 1",
        f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'",
    )
    stack.callback(env.sql, f"DROP USER '{user}'@'%'")
    url = _url(env, username=user, password="pw")
    held = create_engine(url, poolclass=NullPool)
    stack.callback(held.dispose)
    stack.enter_context(held.connect()).execute(text("SELECT 1"))
    return url


def _wrong_password(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    user, database = f"pw_{uuid.uuid4().hex[:8]}", make_url(env.url).database
    env.sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-one'",
        f"GRANT ALL ON `{database}`.* TO '{user}'@'%'",
    )
    stack.callback(env.sql, f"DROP USER '{user}'@'%'")
    return _url(env, username=user, password="wrong-one")


def _tls_unsupported(env: FaultEnv, stack: contextlib.ExitStack) -> str:
    assert env.sql("SHOW ssl") == "off"  # the suite's server: TLS off
    return _url(env, query={"sslmode": "require"})


CASES = [
    ("postgresql", _refused, "refused", "Nothing listens on 127.0.0.1:"),
    ("mariadb", _refused, "refused", "Nothing listens on 127.0.0.1:"),
    ("postgresql", _silent, "timeout", "did not answer in time"),
    ("mariadb", _silent, "timeout", "did not answer in time"),
    ("postgresql", _unresolvable, "dns", "'no-such-db-host.invalid' does not resolve"),
    ("mariadb", _unresolvable, "dns", "'no-such-db-host.invalid' does not resolve"),
    ("postgresql", _no_role, "role_missing", "does not exist on 127.0.0.1:"),
    ("postgresql", _role_limit, "too_many_connections", "connection limit of"),
    ("mariadb", _role_limit, "too_many_connections", "connection limit of"),
    ("mariadb", _wrong_password, "authentication", "refused the credentials of"),
    ("postgresql", _tls_unsupported, "ssl_unsupported", "has no SSL enabled"),
]


MARKS = {"postgresql": "postgres", "mariadb": "mariadb"}
# Reproduced against a running `scraper serve` first (a server start each): the address where
# nothing listens. The other faults reach the service by the same connect, so one suffices.
SERVED = {("postgresql", "refused"), ("mariadb", "refused")}


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as made:
        yield made


@pytest.mark.parametrize(
    ("dialect", "fault", "kind", "said"),
    [
        pytest.param(
            *case,
            marks=[getattr(pytest.mark, MARKS[case[0]])]
            + ([pytest.mark.slow] if (case[0], case[2]) in SERVED else []),
        )
        for case in CASES
    ],
    ids=[f"{case[0]}-{case[2]}" for case in CASES],
)
def test_a_refused_connection_is_named_by_its_cause(
    env_factory: Any,
    stack: contextlib.ExitStack,
    dialect: str,
    fault: Fault,
    kind: str,
    said: str,
) -> None:
    env: FaultEnv = env_factory(dialect, "initialized")
    env.live_worker()
    url = fault(env, stack)
    if (dialect, kind) in SERVED:
        with env.service(url) as symptom:
            seen = symptom()
        # no job is taken (not even into the fallback journal): 503, the same words as the doctor
        assert seen.created == 503 and seen.job["error"] == "database_unavailable", seen
        assert seen.ready == 503 and said in seen.failing().get("database:connection", ""), seen
    cause = env.cause(url=url)  # the snapshot around it: nothing written
    assert cause["check"] == "database:connection", cause
    assert cause["evidence"]["fault"] == kind, cause
    assert said in cause["summary"], cause["summary"]
    assert cause["evidence"]["driver_said"], cause
    assert "ops doctor" not in cause["fix"] or kind == "timeout", cause["fix"]  # a real fix
    env.passes()  # the service's own URL still works
