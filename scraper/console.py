"""What both command lines, `scraper` and `ops`, share: the habits people expect of a CLI.

`-h` beside `--help` on every command, `--version`, a usage error in one line with exit 2,
and an expected failure (unreachable database, missing file, a URL it cannot use) in one
line with its exit code, never a traceback. Each CLI says which failures it expects with
one `explain` function; any other exception is a bug and keeps its traceback.

Exit status, the same in both: 0 done / healthy, 1 the command ran and found or met a
problem, 2 it could not run (bad arguments, a database it cannot reach, a missing file).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click

OK, PROBLEM, CANNOT_RUN = 0, 1, 2
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
URL_FORMS = "use sqlite:///PATH, postgresql+psycopg://USER@HOST/DB or mysql+pymysql://USER@HOST/DB"


@dataclass(frozen=True)
class Failure:
    """An expected failure as the user sees it: one line and the exit code."""

    message: str
    code: int = CANNOT_RUN


class CannotRun(click.ClickException):
    """The command could not run (exit 2): a missing file, a database it cannot reach."""

    exit_code = CANNOT_RUN


Explain = Callable[[Exception], "Failure | None"]


def first_text_line(text: str) -> str:
    """The first non-blank line of a message (`scraper.errors.one_line` does it for an
    exception: a driver's error, without its SQL)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def database_failure(exc: Exception) -> Failure | None:
    """A database URL that names no database we know, one we cannot reach or that refuses:
    the same line from both CLIs (exit 2, could not run); None for anything else."""
    # Imported here: `--help` and `--version` should not pay for SQLAlchemy.
    from sqlalchemy.exc import (
        ArgumentError,
        DBAPIError,
        InterfaceError,
        NoSuchModuleError,
        OperationalError,
    )

    from scraper.errors import one_line

    if isinstance(exc, NoSuchModuleError):  # bogus://x
        kind = str(exc).rsplit(":", 1)[-1].split(".")[0]
        return Failure(f"cannot use the database URL: no database of kind {kind!r}; {URL_FORMS}")
    if isinstance(exc, ArgumentError):  # a URL SQLAlchemy cannot parse
        return Failure(f"cannot use the database URL: {exc}; {URL_FORMS}")
    if isinstance(exc, OperationalError | InterfaceError):
        return Failure(f"cannot use the database: {one_line(exc)} (run `ops doctor`)")
    if isinstance(exc, DBAPIError):
        return Failure(f"the database refused: {one_line(exc)} (run `ops doctor`)")
    return None


def usage_line(exc: click.UsageError) -> str:
    """A usage error in one line, with where to look for the right usage."""
    where = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
    return f"{first_text_line(exc.format_message())}{where}"


def die(message: str, code: int) -> NoReturn:
    """Print `error: message` on stderr in one line and exit with `code`."""
    click.echo(f"error: {first_text_line(message)}", err=True)
    sys.exit(code)


class Group(click.Group):
    """A click group whose errors reach the user in one line: usage (exit 2), the failures
    `explain` expects (their code); anything else keeps its traceback (a bug)."""

    def __init__(self, *args: Any, explain: Explain | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.explain: Explain = explain or (lambda exc: None)

    def main(  # type: ignore[override]
        self, args: Any = None, prog_name: str | None = None, standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            die(usage_line(exc), exc.exit_code)
        except click.ClickException as exc:
            die(exc.format_message(), exc.exit_code)
        except click.Abort:
            die("aborted", PROBLEM)
        except Exception as exc:
            failure = self.explain(exc)
            if failure is None:
                raise
            die(failure.message, failure.code)
        sys.exit(code if isinstance(code, int) else OK)


def version_option(package: str) -> Callable[[Any], Any]:
    """`--version`: the installed distribution's version (read only when asked)."""
    return click.version_option(package_name=package, message="%(prog)s %(version)s")


def file_failure(exc: Exception) -> Failure | None:
    """A file or directory that is missing or cannot be used, in one line (exit 2)."""
    if not isinstance(exc, OSError):
        return None
    where = f"{exc.filename}: " if exc.filename else ""
    return Failure(f"{where}{exc.strerror or exc}")
