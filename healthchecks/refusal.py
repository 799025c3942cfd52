"""The database's refusal of a write, classified into typed fields from the driver's own error.

`classify(exc)` reads the SQLSTATE (PostgreSQL), the errno (MariaDB/MySQL) or the extended
result code (SQLite), plus the table, column or constraint the database named, so reasoning
and `--heal` never have to search a sentence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exc as sa_exc


class RefusalKind(enum.StrEnum):
    PRIVILEGE = "privilege"
    READ_ONLY = "read_only"
    LOCKED = "locked"
    TIMEOUT = "statement_timeout"  # cut by a time limit of the server's, not a lock wait
    NOT_NULL = "not_null"
    CHECK = "check"
    TRIGGER = "trigger"
    FOREIGN_KEY = "foreign_key"
    UNIQUE = "unique"
    VALUE = "value_too_long"  # too long for the column, or the wrong type
    UNKNOWN_COLUMN = "unknown_column"
    MISSING_TABLE = "missing_table"
    MISSING_DATABASE = "missing_database"
    MISSING_DRIVER = "missing_driver"
    CONNECTION = "connection"
    OTHER = "other"


@dataclass(frozen=True)
class Refusal:
    """What the database said, classified: its error class and code, and the objects it named."""

    kind: RefusalKind
    driver_error: str
    message: str
    sqlstate: str | None = None
    errno: int | None = None
    statement: str | None = None
    table: str | None = None
    column: str | None = None
    constraint: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data


_SQLSTATE = {
    "42501": RefusalKind.PRIVILEGE,
    "25006": RefusalKind.READ_ONLY,
    "55P03": RefusalKind.LOCKED,
    "40P01": RefusalKind.LOCKED,
    "57014": RefusalKind.TIMEOUT,  # canceled: statement_timeout (a wait: lock_timeout, 55P03)
    "23502": RefusalKind.NOT_NULL,
    "23514": RefusalKind.CHECK,
    "23503": RefusalKind.FOREIGN_KEY,
    "23505": RefusalKind.UNIQUE,
    "22001": RefusalKind.VALUE,
    "22003": RefusalKind.VALUE,
    "22P02": RefusalKind.VALUE,
    "22007": RefusalKind.VALUE,
    "42804": RefusalKind.VALUE,
    "42703": RefusalKind.UNKNOWN_COLUMN,
    "42P01": RefusalKind.MISSING_TABLE,
    "3D000": RefusalKind.MISSING_DATABASE,
    "P0001": RefusalKind.TRIGGER,
    "28P01": RefusalKind.CONNECTION,
    "28000": RefusalKind.CONNECTION,
}
_ERRNO = {
    **dict.fromkeys((1142, 1143, 1044, 1227, 1370), RefusalKind.PRIVILEGE),
    **dict.fromkeys((1290, 1792, 1836), RefusalKind.READ_ONLY),
    **dict.fromkeys((1205, 1213), RefusalKind.LOCKED),
    **dict.fromkeys((1969, 3024), RefusalKind.TIMEOUT),  # max_statement_time, max_execution_time
    **dict.fromkeys((1048, 1364), RefusalKind.NOT_NULL),
    **dict.fromkeys((4025, 3819), RefusalKind.CHECK),
    **dict.fromkeys((1451, 1452, 1216, 1217), RefusalKind.FOREIGN_KEY),
    **dict.fromkeys((1062, 1586), RefusalKind.UNIQUE),
    **dict.fromkeys((1406, 1366, 1264, 1292), RefusalKind.VALUE),
    1054: RefusalKind.UNKNOWN_COLUMN,
    1146: RefusalKind.MISSING_TABLE,
    1049: RefusalKind.MISSING_DATABASE,
    1644: RefusalKind.TRIGGER,
    **dict.fromkeys((1045, 2002, 2003, 2005, 2006, 2013), RefusalKind.CONNECTION),
}
# MariaDB's text of ER_STATEMENT_TIMEOUT (1969), kept when another error reports the cut
_MARIADB_CUT = "(max_statement_time exceeded)"
_SQLITE = {
    "SQLITE_CONSTRAINT_NOTNULL": RefusalKind.NOT_NULL,
    "SQLITE_CONSTRAINT_CHECK": RefusalKind.CHECK,
    "SQLITE_CONSTRAINT_TRIGGER": RefusalKind.TRIGGER,
    "SQLITE_CONSTRAINT_FOREIGNKEY": RefusalKind.FOREIGN_KEY,
    "SQLITE_CONSTRAINT_UNIQUE": RefusalKind.UNIQUE,
    "SQLITE_CONSTRAINT_PRIMARYKEY": RefusalKind.UNIQUE,
    "SQLITE_READONLY": RefusalKind.READ_ONLY,
    "SQLITE_BUSY": RefusalKind.LOCKED,
    "SQLITE_LOCKED": RefusalKind.LOCKED,
    "SQLITE_CANTOPEN": RefusalKind.CONNECTION,
    "SQLITE_NOTADB": RefusalKind.CONNECTION,
    "SQLITE_AUTH": RefusalKind.PRIVILEGE,
}
# The objects each database names in its message (the message is the database's, not ours).
_NAMED = [
    re.compile(r"(?:NOT NULL|CHECK|UNIQUE) constraint failed: (?P<target>[\w.]+)"),
    re.compile(r"table (?P<table>\w+) has no column named (?P<column>\w+)"),
    re.compile(r"no such table: (?:\w+\.)?(?P<table>\w+)"),
    re.compile(r"no such column: (?P<column>[\w.]+)"),
    re.compile(r'column "(?P<column>\w+)" of relation "(?P<table>\w+)" does not exist'),
    re.compile(r'relation "(?:\w+\.)?(?P<table>\w+)" does not exist'),
    re.compile(r'column (?:\w+\.)?"?(?P<column>\w+)"? does not exist'),
    re.compile(r"permission denied for (?:table|relation|sequence) (?P<table>\w+)"),
    re.compile(r"(?:Column|Field) '(?P<column>\w+)' (?:cannot be null|doesn't have a default)"),
    re.compile(r"Data too long for column '(?P<column>\w+)'"),
    re.compile(r"Incorrect \w+ value: .* for column `?'?(?:\w+`?\.`?)*(?P<column>\w+)"),
    re.compile(r"Unknown column '(?:\w+\.)?(?P<column>\w+)'"),
    re.compile(r"Table '(?:\w+\.)?(?P<table>\w+)' doesn't exist"),
    re.compile(r"command denied to user .* for table [`']?(?:\w+[`']?\.[`']?)?(?P<table>\w+)"),
    re.compile(r"CONSTRAINT `(?P<constraint>\w+)` failed for `\w+`\.`(?P<table>\w+)`"),
    re.compile(r"CONSTRAINT `(?P<constraint>\w+)` FOREIGN KEY"),
    re.compile(r"Duplicate entry .* for key '(?:\w+\.)?(?P<constraint>\w+)'"),
]


def classify(exc: BaseException) -> Refusal:
    """Turn a driver error (wrapped by SQLAlchemy or not) into a typed Refusal."""
    orig = getattr(exc, "orig", None) or exc
    message = _first_line(orig)
    statement = getattr(exc, "statement", None)
    fields = _codes(orig)
    kind = _kind(exc, orig, fields, message)
    named = _named(orig, message)
    return Refusal(
        kind=kind,
        driver_error=f"{type(orig).__module__}.{type(orig).__name__}",
        message=message,
        statement=" ".join(statement.split())[:500] if statement else None,
        sqlstate=fields["sqlstate"],
        errno=fields["errno"],
        table=named["table"],
        column=named["column"],
        constraint=named["constraint"],
    )


def _first_line(orig: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1].strip()  # pymysql: (errno, message)
    else:
        text = str(orig).strip()
    return (text.splitlines() or [type(orig).__name__])[0][:500]


def _codes(orig: BaseException) -> dict[str, Any]:
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    args = getattr(orig, "args", ())
    errno = args[0] if args and isinstance(args[0], int) else None  # pymysql: (errno, message)
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        sqlstate, errno = name, getattr(orig, "sqlite_errorcode", None)
    return {"sqlstate": sqlstate if isinstance(sqlstate, str) else None, "errno": errno}


def _kind(
    exc: BaseException, orig: BaseException, fields: dict[str, Any], message: str
) -> RefusalKind:
    if isinstance(exc, ModuleNotFoundError | sa_exc.NoSuchModuleError):
        return RefusalKind.MISSING_DRIVER
    code, errno = fields["sqlstate"], fields["errno"]
    sqlite = (code or "").startswith("SQLITE")
    found = _SQLITE.get(code or "")
    if found is None and errno is not None and not sqlite:
        found = _ERRNO.get(errno)
        if found is None and _MARIADB_CUT in message:  # a cut another error wraps (a sort's
            found = RefusalKind.TIMEOUT  # 1028 "Sort aborted: …"): the server's own words
    if found is None:
        found = _SQLSTATE.get(code or "")
    if found is None and code == "SQLITE_ERROR":
        found = _sqlite_error(message)
    if found is None and code and code.startswith("08"):
        found = RefusalKind.CONNECTION
    if found is None and "does not exist" in message and "database" in message:
        found = RefusalKind.MISSING_DATABASE  # psycopg reports it at connect, without SQLSTATE
    if found is None and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        found = RefusalKind.CONNECTION if getattr(exc, "connection_invalidated", False) else None
    if found is None and code is None and errno is None and isinstance(exc, sa_exc.DBAPIError):
        found = RefusalKind.CONNECTION  # a client-side failure carries no code
    return found or RefusalKind.OTHER


def _sqlite_error(message: str) -> RefusalKind | None:
    if message.startswith("no such table"):
        return RefusalKind.MISSING_TABLE
    if "has no column named" in message or message.startswith("no such column"):
        return RefusalKind.UNKNOWN_COLUMN
    return None


def _named(orig: BaseException, message: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {"table": None, "column": None, "constraint": None}
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg: the server's structured fields
        found["table"] = getattr(diag, "table_name", None)
        found["column"] = getattr(diag, "column_name", None)
        found["constraint"] = getattr(diag, "constraint_name", None)
    for pattern in _NAMED:
        match = pattern.search(message)
        if match is None:
            continue
        for key, value in match.groupdict().items():
            if key == "target":
                _split_target(found, value)
            elif value and not found.get(key):
                found[key] = value
    return found


def _split_target(found: dict[str, str | None], target: str) -> None:
    """SQLite names `table.column` for NOT NULL/UNIQUE, a constraint name for CHECK."""
    if "." in target:
        table, column = target.split(".", 1)
        found["table"] = found["table"] or table
        found["column"] = found["column"] or column
    else:
        found["constraint"] = found["constraint"] or target
