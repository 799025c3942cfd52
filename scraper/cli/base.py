"""The `scraper` group, the options its commands share, and the one place that turns an
expected failure into a line and an exit code (`explain`).

Exit status: 0 done; 1 the command ran and met a problem (an unknown user, every source
failed); 2 it could not run (bad arguments, a database URL it cannot use or reach).
"""

from __future__ import annotations

import click
from sqlalchemy import make_url

from scraper.accounts import AccountError
from scraper.console import (
    CANNOT_RUN,
    PROBLEM,
    CannotRun,
    Failure,
    Group,
    database_failure,
    file_failure,
    version_option,
)
from scraper.db import sqlite_file
from scraper.errors import (
    ConfigError,
    DatabaseNeverAnswered,
    InvalidQuery,
    ScraperError,
    UnknownSource,
)
from scraper.logs import configure_logging
from scraper.runtime import Runtime

database_url_option = click.option(
    "--database-url",
    envvar="SCRAPER_DATABASE_URL",
    show_envvar=True,
    help="Database URL (default: sqlite:///data/scraper.db).",
)


def explain(exc: Exception) -> Failure | None:
    """The expected failures of `scraper` commands, each as one line and its exit code."""
    if isinstance(exc, AccountError):
        return Failure(str(exc), PROBLEM)
    if isinstance(exc, ConfigError | UnknownSource | InvalidQuery | DatabaseNeverAnswered):
        return Failure(str(exc), CANNOT_RUN)
    if isinstance(exc, ScraperError):
        return Failure(str(exc), PROBLEM)
    return database_failure(exc) or file_failure(exc)


@click.group(cls=Group, explain=explain)
@version_option("scraper")
def main() -> None:
    """Media scraper service: the web app, workers, searches and accounts.

    Exit status: 0 done, 1 a problem met (unknown user, every source failed), 2 could not
    run (bad arguments, a database it cannot use or reach).
    """


def runtime_for(database_url: str | None, existing: bool = False) -> Runtime:
    """The service's wiring for `--database-url` (or the environment).

    `existing`: a SQLite file that does not exist is an error, not a new empty database
    (the account commands need the tables `ops init-db` or `scraper serve` made).
    """
    runtime = Runtime.from_env(database_url=database_url)
    make_url(runtime.settings.database_url).get_dialect()  # bogus://: one line, before anything
    path = sqlite_file(runtime.settings.database_url)
    if existing and path is not None and not path.exists():
        raise CannotRun(f"the SQLite database {path} does not exist (create it with `ops init-db`)")
    return runtime


def setup_logging(runtime: Runtime) -> None:
    """Log in the format the settings ask for."""
    configure_logging(runtime.settings.log_format)
