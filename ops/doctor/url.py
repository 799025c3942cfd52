"""`config:database_url`: can this URL work at all — its driver installed, its SQLite file there?

Read before any connection: a missing driver gets the URL form that works, and a SQLite file
that does not exist is reported with the path it resolved to, the working directory, and
whether the URL was relative (services often start from another folder), never created.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from healthchecks.base import CheckResult, Fix, Status
from scraper.config import Settings
from scraper.errors import one_line

NAME = "config:database_url"
# backend -> (SQLAlchemy driver name, module to look for, pip extra), best first
DRIVERS = {
    "postgresql": [("psycopg", "psycopg", "postgres"), ("psycopg2", "psycopg2", "postgres")],
    "mysql": [("pymysql", "pymysql", "mysql"), ("mysqldb", "MySQLdb", "mysql")],
    "mariadb": [("pymysql", "pymysql", "mysql"), ("mysqldb", "MySQLdb", "mysql")],
}


def check_database_url(settings: Settings) -> CheckResult:
    """Fail when the URL cannot name a usable database: bad form, no driver, no SQLite file."""
    url = settings.database_url
    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except ArgumentError as exc:
        return _bad_form(url, exc)
    except (ImportError, NoSuchModuleError) as exc:
        return _missing_driver(make_url(url), exc)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_file(parsed, settings)
    safe = parsed.render_as_string(hide_password=True)
    return CheckResult(
        NAME,
        Status.PASS,
        observed=parsed.drivername,
        output=f"{safe}: driver {parsed.get_driver_name()} is installed.",
        evidence={"url": safe},
    )


def _bad_form(url: str, exc: Exception) -> CheckResult:
    return CheckResult(
        NAME,
        Status.FAIL,
        output=f"SCRAPER_DATABASE_URL is not a database URL: {exc}.",
        fix="export SCRAPER_DATABASE_URL=postgresql+psycopg://USER@HOST/DB "
        "(or mysql+pymysql://…, or sqlite:////absolute/path/scraper.db)",
        evidence={"error": str(exc)},
    )


def _missing_driver(parsed: URL, exc: Exception) -> CheckResult:
    backend, safe = parsed.get_backend_name(), parsed.render_as_string(hide_password=True)
    installed = [
        (driver, extra)
        for driver, module, extra in DRIVERS.get(backend, [])
        if importlib.util.find_spec(module) is not None
    ]
    evidence = {"url": safe, "error": one_line(exc, kind=True), "installed": installed}
    if installed:
        working = parsed.set(drivername=f"{backend}+{installed[0][0]}")
        shown = working.render_as_string(hide_password=True)
        secret = " (your password in place of ***)" if parsed.password else ""
        fix = Fix(f"export SCRAPER_DATABASE_URL='{shown}'{secret}")
        output = (
            f"The URL {safe} asks for the driver {parsed.get_driver_name()!r}, which is not "
            f"installed; {installed[0][0]} is: use the URL form {shown}."
        )
        evidence["working_url"] = shown
    else:
        extra = DRIVERS.get(backend, [("", "", backend)])[0][2]
        fix = Fix(f".venv/bin/pip install -e '.[{extra}]'")
        output = f"No driver for {backend} is installed, so {safe} cannot be opened."
    return CheckResult(NAME, Status.FAIL, output=output, fix=fix, evidence=evidence)


def _sqlite_file(parsed: URL, settings: Settings) -> CheckResult:
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return CheckResult(NAME, Status.PASS, output="An in-memory SQLite database.")
    raw = database[5:].split("?", 1)[0] if database.startswith("file:") else database
    relative = not Path(raw).is_absolute()
    path = Path(raw).absolute()
    evidence = {"url": str(parsed), "path": str(path), "cwd": os.getcwd(), "relative": relative}
    where = (
        f" (the URL is relative: it resolved against the working directory {os.getcwd()}; "
        "a service started from another folder opens another file)"
        if relative
        else ""
    )
    if path.is_file():
        return CheckResult(
            NAME,
            Status.PASS,
            observed=str(path),
            output=f"The SQLite file is {path}{where}.",
            evidence=evidence,
        )
    found = [str(c) for c in _candidates(raw, settings) if c.is_file() and c != path]
    evidence["found_elsewhere"] = found
    if found:
        fix = Fix(f"export SCRAPER_DATABASE_URL=sqlite:///{found[0]}")
    else:
        fix = Fix(
            f"ops init-db --database-url sqlite:///{path}  (only for a new install; if the "
            "service's database is elsewhere, point SCRAPER_DATABASE_URL at it by absolute path)"
        )
    return CheckResult(
        NAME,
        Status.FAIL,
        observed=None,
        output=f"The SQLite file {path} does not exist{where}; nothing was created.",
        fix=fix,
        evidence=evidence,
    )


def _candidates(raw: str, settings: Settings) -> list[Path]:
    """Where the file probably is: the data dir, and the project the service was installed in."""
    name, data_dir = Path(raw).name, settings.data_dir.absolute()
    project = Path(sys.prefix).absolute().parent
    return [data_dir / name, data_dir.parent / raw, project / raw, project / "data" / name]
