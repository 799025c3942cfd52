"""Dialect-aware normalisation of types and server defaults, so equal things compare equal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Column, Dialect, sql
from sqlalchemy import types as sqltypes
from sqlalchemy.schema import DefaultClause

_INT_SIZES = {"big_integer": 8, "bigint": 8, "small_integer": 2, "smallint": 2, "tinyint": 1}
_INT_SIZES |= {"mediumint": 3}
_CAST = re.compile(r"::[\w .\"]+(\[\])?$")
_NO_TIMEZONE = {"sqlite", "mysql"}  # they store no zone: DateTime(timezone=True) is DATETIME
_NOW = {"now()", "current_timestamp", "current_timestamp()", "localtimestamp", "getdate()"}
# MySQL/MariaDB text classes by their byte limit; other dialects' TEXT is unbounded.
_MYSQL_TEXT = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}


@dataclass(frozen=True)
class Shape:
    """A type reduced to what matters for compatibility: a family and its size parameters."""

    family: str
    size: Any = None
    extra: Any = None

    def __str__(self) -> str:
        params = [
            ", ".join(p) if isinstance(p, tuple) else str(p)
            for p in (self.size, self.extra)
            if p is not None
        ]
        return f"{self.family}({', '.join(params)})" if params else self.family


def unwrap(type_: sqltypes.TypeEngine[Any], dialect: Dialect) -> sqltypes.TypeEngine[Any]:
    """Resolve TypeDecorators, variants and `@compiles` rules to the type the dialect stores."""
    seen = 0
    while isinstance(type_, sqltypes.TypeDecorator) and seen < 10:
        type_ = type_.load_dialect_impl(dialect)
        seen += 1
    variants = getattr(type_, "_variant_mapping", None)
    if variants and dialect.name in variants:
        return unwrap(variants[dialect.name], dialect)
    return compiled_type(type_, dialect) or type_


_TYPE_TEXT = re.compile(r"^\s*([a-z][a-z ]*?)\s*(?:\(([^)]*)\))?\s*(unsigned)?\s*$", re.I)


def compiled_type(
    type_: sqltypes.TypeEngine[Any], dialect: Dialect
) -> sqltypes.TypeEngine[Any] | None:
    """The type a `@compiles` rule for this dialect emits, read back as the dialect reflects
    it (e.g. `DATETIME(6)`, `LONGTEXT`); None when no such rule applies or it cannot be read."""
    specs = getattr(getattr(type(type_), "_compiler_dispatcher", None), "specs", {})
    if dialect.name not in specs:
        return None
    try:
        found = _TYPE_TEXT.match(str(type_.compile(dialect=dialect)))
    except Exception:  # a rule that needs more context than a bare type: keep the model type
        return None
    names: dict[str, Any] = getattr(dialect, "ischema_names", {})
    cls = names.get(found.group(1).lower()) if found else None
    if found is None or cls is None:
        return None
    args = [int(a) for a in (found.group(2) or "").split(",") if a.strip().isdigit()]
    if dialect.name == "mysql" and found.group(1).lower() in {"datetime", "time", "timestamp"}:
        return cls(fsp=args[0] if args else None)
    try:
        return cls(*args)
    except TypeError:
        return None


def shape(type_: sqltypes.TypeEngine[Any], dialect: Dialect) -> Shape:
    """Reduce a model or reflected type to a comparable Shape."""
    type_ = unwrap(type_, dialect)
    visit = str(getattr(type_, "__visit_name__", "")).lower()
    if isinstance(type_, sqltypes.Boolean):
        return Shape("boolean")
    if visit == "tinyint" and getattr(type_, "display_width", None) == 1:
        return Shape("boolean")
    if isinstance(type_, sqltypes.Integer):
        return Shape("integer", _INT_SIZES.get(visit, 4))
    if isinstance(type_, sqltypes.Float):
        return Shape("float", float_bytes(type_, visit, dialect.name))
    if isinstance(type_, sqltypes.Numeric):
        return Shape("numeric", type_.precision, type_.scale)
    if isinstance(type_, sqltypes.JSON):
        return Shape("json")
    if isinstance(type_, sqltypes.Enum):
        if type_.native_enum and dialect.name in {"postgresql", "mysql"}:
            return Shape("enum", None, tuple(sorted(type_.enums)))
        return Shape("string", type_.length)  # stored as VARCHAR(longest value)
    if isinstance(type_, sqltypes.Uuid) and not (
        type_.native_uuid and getattr(dialect, "supports_native_uuid", False)
    ):
        return Shape("string", 32)  # stored as CHAR(32)
    if isinstance(type_, sqltypes.Text | sqltypes.CLOB) or visit.endswith("text"):
        return Shape("text", text_bytes(type_, visit) if dialect.name == "mysql" else None)
    if isinstance(type_, sqltypes.String):
        return Shape("string", type_.length)
    if isinstance(type_, sqltypes.DateTime):
        zoned = bool(type_.timezone) and dialect.name not in _NO_TIMEZONE
        return Shape("datetime", zoned or None, getattr(type_, "fsp", None))
    return _simple_shape(type_, dialect)


def float_bytes(type_: sqltypes.Float[Any], visit: str, dialect: str) -> int:
    """Storage size of a float: 4 (single) or 8 (double), as this dialect stores it."""
    if dialect == "sqlite" or "double" in visit:
        return 8  # SQLite's REAL is always 8 bytes
    if visit == "real":
        return 4
    precision = type_.precision
    if precision is None:
        return 4 if dialect == "mysql" else 8  # PostgreSQL's bare FLOAT is double precision
    return 4 if precision <= 24 else 8


def text_bytes(type_: sqltypes.TypeEngine[Any], visit: str) -> int:
    """MySQL/MariaDB's byte limit for a text column: TINYTEXT < TEXT < MEDIUMTEXT < LONGTEXT."""
    if visit in _MYSQL_TEXT and visit != "text":
        return _MYSQL_TEXT[visit]
    length = getattr(type_, "length", None)
    if not length:
        return _MYSQL_TEXT["text"]
    return next(size for size in sorted(_MYSQL_TEXT.values()) if size >= length)


def _simple_shape(type_: sqltypes.TypeEngine[Any], dialect: Dialect) -> Shape:
    for family, cls in (
        ("date", sqltypes.Date),
        ("time", sqltypes.Time),
        ("interval", sqltypes.Interval),
        ("binary", sqltypes._Binary),
        ("uuid", sqltypes.Uuid),
    ):
        if isinstance(type_, cls):
            return Shape(family)
    try:
        return Shape("other", type_.compile(dialect=dialect).upper())
    except Exception:
        return Shape("other", type(type_).__name__.upper())


def model_default(column: Column[Any], dialect: Dialect) -> str | None:
    """The model's server default as SQL text for this dialect, or None."""
    default = column.server_default
    if not isinstance(default, DefaultClause):
        return None
    arg = default.arg
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    if isinstance(arg, sql.ClauseElement):
        return str(arg.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return str(arg)


def _unparen(text: str) -> str:
    while text.startswith("(") and text.endswith(")"):
        inner, depth = text[1:-1], 0
        for ch in inner:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                return text
        text = inner.strip()
    return text


def normalize_default(text: str | None) -> str | None:
    """Canonical form of a default: no casts, parens or quotes; booleans and numbers unified."""
    if text is None:
        return None
    value = _unparen(str(text).strip())
    while _CAST.search(value):
        value = _unparen(_CAST.sub("", value).strip())
    if value.lower() == "null" or value == "":
        return None
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1].replace("''", "'")
    lowered = value.lower()
    if lowered in {"true", "false"}:
        return "1" if lowered == "true" else "0"
    if lowered in _NOW or lowered.startswith("current_timestamp("):
        return "current_timestamp"
    try:
        return format(Decimal(value).normalize(), "f")
    except (InvalidOperation, ValueError):
        return value


def is_autoincrement_default(text: str | None) -> bool:
    """True for the sequence/identity defaults databases attach to serial primary keys."""
    return bool(text) and str(text).lower().startswith("nextval(")


_EXPR_CAST = re.compile(r"::\s*[a-z_]+(?:\s+varying|\s+precision)?(?:\(\d+\))?(?:\[\])?")
_ANY_ARRAY = re.compile(r"=\s*any\s*\(+\s*array\s*\[(.*?)\]\s*\)+")
_QUOTES = re.compile(r'["`\[\]]')


def normalize_expression(text: str) -> str:
    """A SQL expression reduced so that each dialect's rendering of it compares equal.

    Lower case, no identifier quotes, casts, parentheses or spaces; PostgreSQL's
    `x = ANY (ARRAY[...])` becomes `x in (...)`. Lossy on purpose: it is only ever
    compared with another rendering of an expression on the same column.
    """
    value = str(text).lower()
    value = _EXPR_CAST.sub("", value)
    value = _ANY_ARRAY.sub(lambda m: " in (" + m.group(1) + ")", value)
    value = _QUOTES.sub("", value).replace("<>", "!=")
    return re.sub(r"[\s()]", "", value)


def compile_expression(element: Any, dialect: Dialect) -> str:
    """A model-side expression (CHECK text, index element) as this dialect renders it."""
    if isinstance(element, str):
        return element
    compiler = dialect.statement_compiler(dialect, None)
    return str(compiler.process(element, include_table=False, literal_binds=True))
