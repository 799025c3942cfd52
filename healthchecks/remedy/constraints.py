"""Rows refused by the table itself: NOT NULL, width, CHECK, triggers, foreign and unique keys."""

from __future__ import annotations

from sqlalchemy import Engine

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import Explanation, one, quote, rows, sql_fix, table_of
from healthchecks.remedy.limits import charset
from ops.schema.extras import declared
from scraper.models import Base


def not_null(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    where = f"{refusal.table or table_of(refusal) or '?'}.{refusal.column or '?'}"
    return Explanation(
        f"Column {where} is NOT NULL without a default and the service does not write it: "
        "every insert into that table fails. Relaxing it to NULL keeps every value.",
        Fix("ops migrate", heal="migrate"),
        {"column": where},
    )


def value(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    if engine.dialect.name == "mysql" and "Incorrect string value" in refusal.message:
        found = charset(refusal, engine)
        if found is not None:
            return found
    table = refusal.table or table_of(refusal) or "?"
    return Explanation(
        f"A value the service writes does not fit a column of {table} (narrower or of another "
        "type than the models): those writes fail. Widening keeps every value.",
        Fix("ops migrate", heal="migrate"),
        {"table": table, "column": refusal.column},
    )


def _triggers(engine: Engine, table: str) -> list[str]:
    """The table's triggers, but the models' own (`q`'s index, scraper.textsearch): those
    never refuse a row, and dropping them would leave the search index behind."""
    ours = {e.name for e in declared(Base.metadata, engine.dialect.name) if e.kind == "trigger"}
    sql = {
        "postgresql": "SELECT tgname AS name FROM pg_trigger "
        "WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal",
        "mysql": "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS "
        "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :table",
    }.get(
        engine.dialect.name,
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table",
    )
    return [row["name"] for row in rows(engine, sql, table=table) if row["name"] not in ours]


def trigger(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or table_of(refusal) or "scrape_jobs"
    names = _triggers(engine, table)
    on = f" ON {quote(table, engine.dialect.name)}" if engine.dialect.name == "postgresql" else ""
    drops = "; ".join(f"DROP TRIGGER {quote(n, engine.dialect.name)}{on}" for n in names)
    return Explanation(
        f"A trigger on {table} ({', '.join(names) or 'unnamed'}) refuses the rows the service "
        f"writes: {refusal.message}",
        Fix(drops or f"drop the trigger on {table} that raises this error", sql=drops or None),
        {"triggers": names, "table": table},
    )


def check(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or table_of(refusal) or "scrape_jobs"
    name = refusal.constraint
    if name is None or engine.dialect.name == "sqlite":
        if _triggers(engine, table) and name is None:
            return trigger(refusal, engine, url)
        return Explanation(
            f"A CHECK constraint on {table} ({name}) refuses a value the service writes.",
            Fix("ops migrate --allow-destructive  (rebuilds the table as the models define it)"),
            {"constraint": name, "table": table},
        )
    d = engine.dialect.name
    drop = f"ALTER TABLE {quote(table, d)} DROP CONSTRAINT {quote(name, d)}"
    return Explanation(
        f"The CHECK constraint {name} on {table} refuses a value the service writes "
        "(a job's status or progress as the models allow them).",
        Fix(f"{drop}; then run `ops migrate` (restores the models' own checks)", sql=drop),
        {"constraint": name, "table": table, "definition": _check_definition(engine, name)},
    )


def _check_definition(engine: Engine, name: str) -> str | None:
    if engine.dialect.name == "postgresql":
        sql = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"
    else:
        sql = (
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = :name"
        )
    value = one(engine, sql, name=name)
    return None if value is None else str(value)


def foreign_key(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or table_of(refusal) or "?"
    name, d = refusal.constraint, engine.dialect.name
    if name and d != "sqlite":
        kind = "FOREIGN KEY" if d == "mysql" else "CONSTRAINT"
        drop = f"ALTER TABLE {quote(table, d)} DROP {kind} {quote(name, d)}"
        fix = Fix(drop, sql=drop)
    else:
        fix = Fix("ops migrate --allow-destructive  (drops foreign keys the models do not have)")
    return Explanation(
        f"A foreign key on {table} ({name or 'unnamed'}) refuses the rows the service writes: "
        "it points at rows the service never creates.",
        fix,
        {"constraint": name, "table": table},
    )


def unique(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or table_of(refusal) or "?"
    d = engine.dialect.name
    name = refusal.constraint or _unique_index(engine, table, refusal.column)
    if name is None:
        fix = Fix("ops migrate --allow-destructive  (drops unique constraints not in the models)")
    elif d == "mysql":
        fix = sql_fix(f"ALTER TABLE {quote(table, d)} DROP INDEX {quote(name, d)}")
    elif d == "postgresql" and one(
        engine, "SELECT 1 FROM pg_constraint WHERE conname = :n", n=name
    ):
        fix = sql_fix(f"ALTER TABLE {quote(table, d)} DROP CONSTRAINT {quote(name, d)}")
    else:
        fix = sql_fix(f"DROP INDEX {quote(name, d)}")
    return Explanation(
        f"A unique constraint on {table} ({name or refusal.column}) that the models do not "
        "have refuses rows the service writes (they repeat values it allows to repeat).",
        fix,
        {"constraint": name, "table": table, "column": refusal.column},
    )


def _unique_index(engine: Engine, table: str, column: str | None) -> str | None:
    if engine.dialect.name != "sqlite" or column is None:
        return None
    for index in rows(engine, f"PRAGMA index_list({quote(table, 'sqlite')})"):
        if index.get("unique") and index.get("origin") == "c":
            cols = rows(engine, f"PRAGMA index_info({quote(index['name'], 'sqlite')})")
            if [c["name"] for c in cols] == [column]:
                return str(index["name"])
    return None
