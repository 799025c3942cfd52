"""Why a connection failed, from the driver's refusal: nothing listening, no answer, a name
that does not resolve, credentials, a connection limit, TLS, a pg_hba rule.

A connection is refused before any SQLSTATE exists (psycopg reports most of these without
one), so the driver's and the server's own words are what there is to read; each fault names
the host and port it met and the command or setting that fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import Explanation


def _where(engine: Engine) -> tuple[str, str, str, str]:
    """(host, port, user, database) the URL names, with each driver's defaults."""
    url = engine.url
    port = url.port or (3306 if engine.dialect.name == "mysql" else 5432)
    return url.host or "localhost", str(port), url.username or "", url.database or ""


def _dns(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, _ = _where(engine)
    name = match.groupdict().get("host") or host
    return Explanation(
        f"The database host name {name!r} does not resolve (DNS or /etc/hosts): no address to "
        f"connect to, so nothing was tried on port {port}.",
        Fix(
            f"correct the host in SCRAPER_DATABASE_URL (or its DNS record); check with: "
            f"getent hosts {name}"
        ),
        {"fault": "dns", "host": name},
    )


def _refused(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, _ = _where(engine)
    return Explanation(
        f"Nothing listens on {host}:{port}: the connection was refused (the server is down, "
        "or listens on another port or address).",
        Fix(
            f"start the database server on {host}:{port}, or correct the host and port in "
            f"SCRAPER_DATABASE_URL; check with: ss -ltn 'sport = :{port}' on {host}"
        ),
        {"fault": "refused", "host": host, "port": port},
    )


def _timeout(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, _ = _where(engine)
    return Explanation(
        f"{host}:{port} did not answer in time: something accepts or drops the connection "
        "without a database answering (a firewall dropping packets, an overloaded or "
        "stopped server, a proxy with no backend). Unlike a refusal, the address is reachable "
        "or silently filtered.",
        Fix(
            f"check the network path and firewall to {host}:{port} and that the database "
            "server there is running and not overloaded, then run `ops doctor`"
        ),
        {"fault": "timeout", "host": host, "port": port},
    )


def _auth(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, user, _ = _where(engine)
    found = match.groupdict()
    who = found.get("user") or found.get("user2") or user
    if engine.dialect.name == "mysql":
        account, _, _ = who.partition("@")
        check = (
            f"as an admin: SELECT user, host, ssl_type FROM mysql.user WHERE user = '{account}' "
            "(no row: create it; ssl_type ANY: the account requires TLS, add ssl to the URL; "
            f"otherwise: ALTER USER '{account}'@'%' IDENTIFIED BY '…' and put that password in "
            "SCRAPER_DATABASE_URL)"
        )
        why = "wrong password, no such account for this client host, or an account that "
        why += "requires TLS (MariaDB says the same for all three)"
    else:
        check = (
            "correct the password in SCRAPER_DATABASE_URL, or as an admin: "
            f"ALTER ROLE \"{who}\" PASSWORD '…'"
        )
        why = "the password is wrong"
    return Explanation(
        f"The database at {host}:{port} refused the credentials of {who!r}: {why}.",
        Fix(check),
        {"fault": "authentication", "user": who, "host": host, "port": port},
    )


def _no_role(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, database = _where(engine)
    role = match.group("role")
    return Explanation(
        f"The role {role!r} does not exist on {host}:{port}: the server answers, but no such "
        "user may log in.",
        Fix(
            f"correct the user in SCRAPER_DATABASE_URL, or as an admin: createuser -h {host} "
            f"-p {port} -U postgres --pwprompt {role}  (then grant it the tables of {database})"
        ),
        {"fault": "role_missing", "role": role, "host": host, "port": port},
    )


def _too_many(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, user, _ = _where(engine)
    text = match.group(0)
    per_user = "role" in text or "max_user_connections" in text
    if engine.dialect.name == "mysql":
        raise_it = (
            f"ALTER USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 0"
            if per_user
            else "SET GLOBAL max_connections = …"
        )
        listing = "SHOW PROCESSLIST"
    else:
        raise_it = (
            f'ALTER ROLE "{user}" CONNECTION LIMIT -1'
            if per_user
            else "ALTER SYSTEM SET max_connections = … (and restart)"
        )
        listing = (
            "SELECT usename, application_name, state, count(*) FROM pg_stat_activity "
            "GROUP BY 1, 2, 3"
        )
    limit = f"the connection limit of {user!r}" if per_user else "the server's connection limit"
    return Explanation(
        f"The database at {host}:{port} refused a new connection: {limit} is reached. The "
        "service's pools (web, each worker) need one connection each at least.",
        Fix(
            f"find who holds the connections ({listing}) and close idle ones, or as an admin "
            f"raise the limit: {raise_it}"
        ),
        {"fault": "too_many_connections", "per_user": per_user, "user": user},
    )


def _ssl(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, _ = _where(engine)
    if "server does not support SSL" in match.group(0):
        return Explanation(
            f"The URL requires TLS (sslmode=require or stricter) but the server at {host}:{port} "
            "has no SSL enabled.",
            Fix(
                "enable ssl on the server (ssl = on, with a certificate), or drop sslmode from "
                "SCRAPER_DATABASE_URL if this network needs no TLS"
            ),
            {"fault": "ssl_unsupported", "host": host, "port": port},
        )
    return Explanation(
        f"The server at {host}:{port} requires TLS for this connection and the URL does not "
        "ask for it.",
        Fix("add sslmode=require to SCRAPER_DATABASE_URL (PostgreSQL) or ssl=true (MariaDB)"),
        {"fault": "ssl_required", "host": host, "port": port},
    )


def _hba(engine: Engine, match: re.Match[str]) -> Explanation:
    host, port, _, _ = _where(engine)
    found = match.groupdict()
    encryption = found.get("encryption") or ""
    hint = (
        " The rules may allow this client with TLS only: try sslmode=require in the URL."
        if "no encryption" in encryption or "SSL off" in encryption
        else ""
    )
    line = f"host {found['database']} {found['user']} {found['client']}/32 scram-sha-256"
    return Explanation(
        f"The server at {host}:{port} has no pg_hba.conf rule letting user {found['user']!r} "
        f"connect to {found['database']!r} from {found['client']}.{hint}",
        Fix(f"as the server's admin, add to pg_hba.conf: {line}  (then: SELECT pg_reload_conf())"),
        {"fault": "pg_hba", **found},
    )


Explain = Callable[[Engine, re.Match[str]], Explanation]
# Checked in order: the first pattern found in the driver's message names the fault.
FAULTS: list[tuple[re.Pattern[str], Explain]] = [
    (
        re.compile(
            r"(?:failed to resolve host|could not translate host name) ['\"](?P<host>[^'\"]+)|"
            r"Name or service not known|Temporary failure in name resolution|"
            r"nodename nor servname"
        ),
        _dns,
    ),
    (re.compile(r"Connection refused|Errno 111"), _refused),
    (re.compile(r"timeout expired|timed out", re.IGNORECASE), _timeout),
    (
        re.compile(
            r'no pg_hba\.conf entry for host "(?P<client>[^"]+)", user "(?P<user>[^"]+)", '
            r'database "(?P<database>[^"]+)"(?P<encryption>, [^"]*)?'
        ),
        _hba,
    ),
    (
        re.compile(
            r"server does not support SSL, but SSL was required|SSL was required|"
            r"SSL connection is required|requires? SSL|SSL off"
        ),
        _ssl,
    ),
    (re.compile(r'role "(?P<role>[^"]+)" does not exist'), _no_role),
    (
        re.compile(
            r"too many connections for role|too many clients already|"
            r"remaining connection slots are reserved|Too many connections|"
            r"max_user_connections"
        ),
        _too_many,
    ),
    (
        re.compile(
            r'password authentication failed for user "(?P<user>[^"]+)"|'
            r"Access denied for user '(?P<user2>[^']+)'@'[^']*'"
        ),
        _auth,
    ),
]


def connection_fault(refusal: Refusal, engine: Engine) -> Explanation | None:
    """The named fault behind a failed connection, or None when the words match none."""
    for pattern, explain in FAULTS:
        match = pattern.search(refusal.message)
        if match is not None:
            explanation = explain(engine, match)
            evidence: dict[str, Any] = {**explanation.evidence, "driver_said": refusal.message}
            return Explanation(explanation.summary, explanation.fix, evidence)
    return None
