"""The `ops` group and what its commands share.

Every command takes `--database-url` and `--json` and returns an `Outcome`; `ops_command`
adds the options and `emit` prints the result and decides the exit code in one place:
0 healthy / done, 1 problem found, 2 could not run. `explain` is the one place an expected
failure (a database it cannot reach, a URL it cannot use, a missing file) becomes one line.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ops.errors import DatabaseMissing, OpsError
from scraper.console import (
    CANNOT_RUN,
    OK,
    PROBLEM,
    Failure,
    Group,
    database_failure,
    file_failure,
    version_option,
)
from scraper.errors import ConfigError, ScraperError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scraper.runtime import Runtime

__all__ = ["CANNOT_RUN", "OK", "PROBLEM", "Options", "Outcome", "main", "ops_command"]

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C


@dataclass
class Outcome:
    """What a command produced: one JSON document, its text form and the exit code."""

    payload: dict[str, Any]
    text: str
    code: int = OK


READ_LOCK_TIMEOUT = 1.0  # seconds a read-only command's statement waits for a lock (DDL queued)


@dataclass
class Options:
    """The options every command shares; `engine()` connects lazily."""

    database_url: str
    as_json: bool
    readonly: bool = False  # set before the first engine(): SQLite opened mode=ro, nothing made
    _engine: Engine | None = field(default=None, repr=False)
    _tidy: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def engine(self) -> Engine:
        """An engine for `--database-url` (connect timeout 10 s on servers)."""
        if self._engine is None:
            from scraper.db import (
                SessionLimits,
                make_engine,
                make_readonly_engine,
                sqlite_left_as_found,
            )

            extra: dict[str, Any] = {}
            if not self.database_url.startswith("sqlite"):
                extra["connect_args"] = self._timeouts()
            if self.readonly:
                self._tidy.enter_context(sqlite_left_as_found(self.database_url))
                # a read never queues without end behind a lock (an ALTER TABLE waiting, say)
                limits = SessionLimits(READ_LOCK_TIMEOUT, idle_in_transaction_timeout=60.0)
                self._engine = make_readonly_engine(self.database_url, limits, **extra)
            else:
                self._engine = make_engine(self.database_url, **extra)
        return self._engine

    def _timeouts(self) -> dict[str, int]:
        """Bounded waits: a server that accepts and never answers must not hang a command.

        PyMySQL waits for the server's greeting without limit unless `read_timeout` is set;
        only read-only commands get one (a migration's ALTER may run long). A timeout the URL
        names itself wins.
        """
        from sqlalchemy.engine import make_url

        wanted = {"connect_timeout": 10}
        if self.readonly and self.database_url.startswith(("mysql", "mariadb")):
            wanted["read_timeout"] = 60
        named = make_url(self.database_url).query
        return {key: value for key, value in wanted.items() if key not in named}

    def close(self) -> None:
        """Dispose the engine if one was made; a read-only one leaves the files as found."""
        if self._engine is not None:
            self._engine.dispose()
        self._tidy.close()


def explain(exc: Exception) -> Failure | None:
    """The expected failures of `ops` commands, each as one line and exit 2 (could not run)."""
    if isinstance(exc, OpsError | ScraperError):  # ScraperError: a bad setting, a journal
        return Failure(str(exc), CANNOT_RUN)
    return database_failure(exc) or file_failure(exc)


def emit(outcome: Outcome, as_json: bool) -> NoReturn:
    """Print the outcome as text or JSON and exit with its code."""
    if as_json:
        click.echo(json.dumps(outcome.payload, indent=2, default=str))
    else:
        click.echo(outcome.text)
    sys.exit(outcome.code)


def fail(error: Exception, failure: Failure, as_json: bool) -> NoReturn:
    """Report an expected failure in one line (and as JSON with --json); exit with its code."""
    message = failure.message.strip().splitlines()[0] if failure.message.strip() else ""
    message = message or type(error).__name__
    if as_json:
        click.echo(json.dumps({"error": type(error).__name__, "message": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(failure.code)


DATABASE_URL_HELP = "Database URL (default: SCRAPER_DATABASE_URL or sqlite:///data/scraper.db)."


def ops_command(
    name: str | None = None,
    group: click.Group | None = None,
    database_url_help: str = DATABASE_URL_HELP,
    **settings: Any,
) -> Callable[[Callable[..., Outcome]], click.Command]:
    """Register a command on `main` (or `group`) taking `--database-url`/`--json`; it returns
    an Outcome."""

    def decorate(func: Callable[..., Outcome]) -> click.Command:
        @functools.wraps(func)
        def run(database_url: str | None, as_json: bool, **kwargs: Any) -> None:
            from scraper.defaults import DEFAULT_DATABASE_URL  # not the settings model

            # Only the URL is read here: a malformed other setting is `ops doctor`'s finding.
            url = database_url or os.environ.get("SCRAPER_DATABASE_URL") or DEFAULT_DATABASE_URL
            opts = Options(url, as_json)
            try:
                outcome = func(opts, **kwargs)
            except KeyboardInterrupt:
                click.echo(f"interrupted: {name or func.__name__} stopped", err=True)
                sys.exit(INTERRUPTED)
            except Exception as exc:
                failure = explain(exc)
                if failure is None:
                    raise
                fail(exc, failure, as_json)
            finally:
                opts.close()
            emit(outcome, as_json)

        run = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")(
            run
        )
        run = click.option("--database-url", default=None, help=database_url_help)(run)
        return (group or main).command(name, **settings)(run)

    return decorate


# Each command's module is imported only when the command runs (or its own help is asked
# for): `ops --help` lists them from here without importing SQLAlchemy or the service.
# tests/ops/test_cli_speed.py holds this table to the commands' own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-schema": (
        "ops.cli.schema",
        "Compare the ORM models with the live schema; exit 1 on drift, 2 if it cannot run\n"
        "    (a database it cannot reach, a SQLite file that does not exist).",
    ),
    "doctor": (
        "ops.cli.doctor",
        "Run every check, name the root cause with evidence and the fix; exit 1 on any problem.",
    ),
    "init-db": (
        "ops.cli.schema",
        "Create every missing table and record the migration head (idempotent).",
    ),
    "jobs": (
        "ops.cli.jobs",
        "List jobs from the database and the fallback store together, each with its storage.",
    ),
    "migrate": (
        "ops.cli.schema",
        "Bring the database to the models: Alembic upgrade, then additive repair.",
    ),
    "prune": (
        "ops.cli.prune",
        "Delete finished jobs older than DAYS, their asset rows and files no asset references.",
    ),
    "reconcile": (
        "ops.cli.jobs",
        "Move fallback jobs into the database and say how many (a second run moves none).",
    ),
    "smoke": (
        "ops.cli.trace",
        "Start the stack from nothing (database, server on a free port, worker), trace a job\n"
        "    through it, tear it down.",
    ),
    "storage": (
        "ops.cli.storage",
        "Where downloaded files live: copy them to another backend, create the bucket.",
    ),
    "trace": (
        "ops.cli.trace",
        "Submit a selftest job and follow it hop by hop; name the first broken hop (exit 1).",
    ),
}


class OpsGroup(Group):
    """`ops`: commands registered by their modules, each module imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                stand_in = click.Command(name, help=COMMANDS[name][1])  # shortened as click does
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=OpsGroup, explain=explain)
@version_option("scraper")
def main() -> None:
    """Ops toolkit for the scraper: schema checks and repair, tracing, diagnosis.

    Exit status: 0 healthy / done, 1 a problem found (drift, a failed trace or check),
    2 could not run (bad arguments, a database it cannot reach, a missing file).
    """


def runtime_for(opts: Options, existing: bool = True) -> Runtime:
    """The service's runtime for `--database-url`, sharing the command's engine.

    `existing`: a SQLite file that does not exist is DatabaseMissing (exit 2), not a new empty
    database; `ops doctor` and `ops jobs` pass False and report it themselves.
    """
    # heavy imports (the service's stores and models) load only when a command needs them
    from scraper.runtime import Runtime

    if existing:
        require_database(opts.database_url)
    try:
        runtime = Runtime.from_env(database_url=opts.database_url)
    except ConfigError as exc:
        raise OpsError(str(exc)) from exc
    try:
        runtime.engine = opts.engine()
    except Exception:  # e.g. a SQLite path that cannot exist: the checks report it
        pass
    return runtime


def require_database(url: str) -> None:
    """DatabaseMissing when `url` names a SQLite file that does not exist."""
    from scraper.db import sqlite_file

    if sqlite_missing(url):
        raise DatabaseMissing(str(sqlite_file(url)))


def sqlite_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist: even --heal must not create it (a 2nd database)."""
    from scraper.db import sqlite_file

    path = sqlite_file(url)
    return path is not None and not path.exists()
