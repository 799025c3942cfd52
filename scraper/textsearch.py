"""`q` on a job's query: a substring search served by an index that fits each database.

A job matches `q` when q, lowercased, is a substring of the job's lowercased query (the API's
`q`, the jobs page's search box and the fallback store's `JobFilter.matches` alike); `%`, `_`,
quotes and backslashes are plain characters.

- PostgreSQL: `query ILIKE '%q%'`, served by the pg_trgm GIN index `ix_scrape_jobs_query_trgm`.
  A GIN scan is a bitmap of every match, so a capped count of a common q would still read all
  of its postings (or scan the table): its count asks the planner first (`estimate_first`).
- MariaDB: the side table `scrape_job_trigrams` (each job's distinct trigrams of LOWER(query)),
  written by triggers in the job's own transaction; the rarest of up to three of q's trigrams
  picks the candidates, a byte-wise substring test of the lowercased texts decides.
- SQLite: the FTS5 table `scrape_jobs_fts` (trigram tokenizer, rowid = the job's rowid),
  written by triggers; a phrase query is an exact case-insensitive substring match.

On MariaDB and SQLite a common q (more than 10,000 candidates in the index) is not listed from
the index (materialising every match cost 1.7 s at 1 M jobs on MariaDB): the newest-first walk
tests each row, and the count starts from the index and stops at 10,001 (`search`).

A `q` shorter than three characters has no trigram: it is a scan, newest first, that stops
when the page is full (and a count that stops at 10,001 matches).

`SEARCH_OBJECTS` declares these objects with their DDL (`metadata.info`, the shape
`ops.schema.extras` documents): migration 0010 builds them on a live database, `create_all`
(events below) on a new one, and check-schema, init-db and migrate report and repair them,
re-creating the SQLite triggers and FTS content after a rebuild of scrape_jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DDL,
    ColumnElement,
    FromClause,
    ScalarSelect,
    Select,
    Table,
    and_,
    bindparam,
    column,
    event,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session

from scraper.planner import estimate

TRIGRAM = 3
ROWID: ColumnElement[int] = literal_column("scrape_jobs.rowid")  # SQLite: what the FTS keys
BACKFILL_BATCH = 5000  # jobs per backfill transaction (migration 0010)
# MariaDB: up to this many candidates (the API's largest page) are paged without the listing
# (its derived tables cost 1-3 ms more than the plain page that is not full: `zebra`)
FEW_CANDIDATES = 200
PG_EXTENSION = "pg_trgm"
PG_INDEX = "ix_scrape_jobs_query_trgm"
FTS_TABLE = "scrape_jobs_fts"
GRAMS_TABLE = "scrape_job_trigrams"

SQLITE_TRIGGERS = {
    "scrape_jobs_fts_insert": (
        "AFTER INSERT ON scrape_jobs BEGIN "
        f"INSERT OR REPLACE INTO {FTS_TABLE}(rowid, query) VALUES (new.rowid, new.query); END"
    ),
    "scrape_jobs_fts_update": (
        "AFTER UPDATE OF query ON scrape_jobs BEGIN "
        f"DELETE FROM {FTS_TABLE} WHERE rowid = old.rowid; "
        f"INSERT OR REPLACE INTO {FTS_TABLE}(rowid, query) VALUES (new.rowid, new.query); END"
    ),
    "scrape_jobs_fts_delete": (
        f"AFTER DELETE ON scrape_jobs BEGIN DELETE FROM {FTS_TABLE} WHERE rowid = old.rowid; END"
    ),
}

# A job's distinct trigrams of LOWER(query), from MariaDB's sequence engine (seq_1_to_N).
_GRAMS_OF = (
    "SELECT DISTINCT SUBSTRING(LOWER({q}), seq, 3), {id} FROM seq_1_to_500 "
    "WHERE seq <= CHAR_LENGTH({q}) - 2"
)
MYSQL_TRIGGERS = {
    "scrape_jobs_trigrams_insert": (
        "AFTER INSERT ON scrape_jobs FOR EACH ROW "
        f"INSERT IGNORE INTO {GRAMS_TABLE} (gram, job_id) "
        + _GRAMS_OF.format(q="NEW.query", id="NEW.id")
    ),
    "scrape_jobs_trigrams_update": (
        "AFTER UPDATE ON scrape_jobs FOR EACH ROW BEGIN "
        "IF NOT (BINARY NEW.query <=> BINARY OLD.query) OR NOT (NEW.id <=> OLD.id) THEN "
        f"DELETE FROM {GRAMS_TABLE} WHERE job_id = OLD.id; "
        f"INSERT IGNORE INTO {GRAMS_TABLE} (gram, job_id) "
        + _GRAMS_OF.format(q="NEW.query", id="NEW.id")
        + "; END IF; END"
    ),
    "scrape_jobs_trigrams_delete": (
        f"AFTER DELETE ON scrape_jobs FOR EACH ROW DELETE FROM {GRAMS_TABLE} WHERE job_id = OLD.id"
    ),
}

PG_CREATE = f"CREATE EXTENSION IF NOT EXISTS {PG_EXTENSION}"
SQLITE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(query, tokenize='trigram')"
)
MYSQL_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {GRAMS_TABLE} ("
    "gram VARCHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, "
    "job_id VARCHAR(36) NOT NULL, "
    "PRIMARY KEY (gram, job_id), "
    f"KEY ix_{GRAMS_TABLE}_job_id (job_id)) ENGINE=InnoDB"
)
# Every job's trigrams (MariaDB), or every job's query under its rowid (SQLite): the content
# the triggers keep, rebuilt after a SQLite rebuild of scrape_jobs (which renumbers rowids).
_MYSQL_FILL = (
    f"INSERT IGNORE INTO {GRAMS_TABLE} (gram, job_id) "
    "SELECT DISTINCT SUBSTRING(LOWER(j.query), s.seq, 3), j.id "
    "FROM scrape_jobs j JOIN seq_1_to_500 s ON s.seq <= CHAR_LENGTH(j.query) - 2"
)
_SQLITE_FILL = f"INSERT INTO {FTS_TABLE}(rowid, query) SELECT j.rowid, j.query FROM scrape_jobs j"


def jobs_extra(kind: str, name: str, create: str, drop: str = "", fill: Any = ()) -> dict[str, Any]:
    """An object declared on `scrape_jobs`, in the shape `ops.schema.extras` reads."""
    return {
        "kind": kind,
        "name": name,
        "table": "scrape_jobs",
        "create": create,
        "drop": drop,
        "fill": list(fill),
    }


def _drop(kind: str, name: str) -> str:
    return f"DROP {kind} IF EXISTS {name}"


def _triggers(bodies: dict[str, str]) -> list[dict[str, Any]]:
    return [
        jobs_extra(
            "trigger", name, f"CREATE TRIGGER IF NOT EXISTS {name} {body}", _drop("TRIGGER", name)
        )
        for name, body in bodies.items()
    ]


# The objects besides the models' tables, with their DDL (the declaration `ops.schema.extras`
# documents): `create_all` (events below), migration 0010, check-schema, init-db and migrate's
# repairs all build them from here. PostgreSQL's GIN index is a model index; its extension
# stays on drop (other objects may use it).
SEARCH_OBJECTS: dict[str, list[dict[str, Any]]] = {
    "postgresql": [jobs_extra("extension", PG_EXTENSION, PG_CREATE)],
    "mysql": [
        jobs_extra("table", GRAMS_TABLE, MYSQL_TABLE, _drop("TABLE", GRAMS_TABLE), [_MYSQL_FILL]),
        *_triggers(MYSQL_TRIGGERS),
    ],
    "sqlite": [
        jobs_extra(
            "virtual_table",
            FTS_TABLE,
            SQLITE_TABLE,
            _drop("TABLE", FTS_TABLE),
            [f"DELETE FROM {FTS_TABLE}", _SQLITE_FILL],
        ),
        *_triggers(SQLITE_TRIGGERS),
    ],
}


class SearchUnavailable(RuntimeError):
    """The database cannot hold the search index (pg_trgm cannot be created here)."""


def create_statements(dialect: str) -> list[str]:
    """The objects' DDL for this database (tables, then triggers), without their content."""
    return [extra["create"] for extra in SEARCH_OBJECTS.get(dialect, [])]


def drop_statements(dialect: str) -> list[str]:
    """The objects' DROP statements (triggers first; none for PostgreSQL's extension)."""
    return [extra["drop"] for extra in reversed(SEARCH_OBJECTS.get(dialect, [])) if extra["drop"]]


def backfill_batch(dialect: str) -> str:
    """One batch of the fill: the jobs in (:low, :high] by id (MariaDB) or rowid (SQLite); a
    job a trigger already indexed is left as it is."""
    if dialect == "sqlite":
        return (
            f"{_SQLITE_FILL} WHERE j.rowid > :low AND j.rowid <= :high "
            f"AND NOT EXISTS (SELECT 1 FROM {FTS_TABLE} f WHERE f.rowid = j.rowid)"
        )
    return f"{_MYSQL_FILL} WHERE j.id > :low AND j.id <= :high"


def ensure_pg_trgm(execute: Any, database: str) -> None:
    """CREATE EXTENSION IF NOT EXISTS pg_trgm; SearchUnavailable says why and what to do."""
    try:
        execute(PG_CREATE)
    except Exception as exc:
        raise SearchUnavailable(
            f"cannot create the PostgreSQL extension {PG_EXTENSION} in database {database!r} "
            f"({str(exc).splitlines()[0]}); install the server's contrib package and have a "
            f"superuser (or the database owner) run CREATE EXTENSION {PG_EXTENSION}, then "
            "migrate again"
        ) from exc


def install(job_table: Table, objects: dict[str, list[dict[str, Any]]] = SEARCH_OBJECTS) -> None:
    """Have `create_all` create the declared `objects` (by default SEARCH_OBJECTS; an
    extension before the table and its GIN index, the rest after), and `drop_all` drop them."""
    for dialect, extras in objects.items():
        for extra in extras:
            when = "before_create" if extra["kind"] == "extension" else "after_create"
            for statement in [extra["create"], *extra["fill"]]:
                _listen(job_table, when, statement, dialect)
            if extra["drop"]:
                _listen(job_table, "before_drop", extra["drop"], dialect)


def _listen(job_table: Table, when: str, statement: str, dialect: str) -> None:
    # DDL formats its text with %: a literal % must be doubled.
    ddl = DDL(statement.replace("%", "%%")).execute_if(dialect=dialect)
    event.listen(job_table, when, ddl)


# -- the condition ----------------------------------------------------------------------------


def like_pattern(text: str) -> str:
    """`%text%` for LIKE ... ESCAPE '\\': the text's own `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _positions(length: int) -> list[int]:
    """1-based starts of up to three of q's trigrams: the first, a middle one, the last."""
    last = length - TRIGRAM + 1
    return sorted({1, (1 + last) // 2, last})


@dataclass(frozen=True)
class Search:
    """How one `q` is served: `condition` tests a job row (the page's walk); `driver`, when
    set, is where a count starts instead: an index's matching entries joined to scrape_jobs,
    read in that index's order, so a capped count reads no more entries than it counts."""

    condition: ColumnElement[bool]
    driver: Driver | None = None
    # counting.count_jobs trusts a large estimate (PostgreSQL; MariaDB's q past the cap)
    estimate_first: bool = False
    # The test of q through the index's candidates (PostgreSQL: the GIN bitmap; MariaDB: the
    # rarest trigram's jobs): a page of few matches is listed from them with its count
    # (scraper.jobs.reads.listed), and only past the cap is `condition` walked
    listed: ColumnElement[bool] | None = None
    guessed: int | None = None  # the planner's estimate of q's jobs, when already asked


@dataclass(frozen=True)
class Driver:
    """Where a count starts: `index`, joined to scrape_jobs `on`, its entries that match q
    (`where`, the whole test of q), or (`index` None) scrape_jobs itself in `position` order;
    SQLite: `position`, the rowid (read ascending) a count past its cap is extrapolated from."""

    index: FromClause | None
    on: ColumnElement[bool] | None
    where: ColumnElement[bool]
    position: ColumnElement[Any] | None = None
    alone: bool = False  # `where` needs no job row: without other conditions, no join


def search(session: Session, query: ColumnElement[str], q: str, common: int) -> Search:
    """The test of `q` (lowercased) as a substring of `query` (lowercased), through this
    database's index.

    PostgreSQL: the trigram GIN index serves every q; `listed` (3+ characters) lets the
    reader list a q the planner does not expect to be common from the bitmap with its count.
    MariaDB and SQLite first count q's candidates in their index, capped at `common` + 1 (an
    index range; MariaDB: the rarest of q's trigrams). At most `common`: the candidates' ids
    are the rows (a bounded list). More: matches are dense, so the newest-first walk finds a
    page of them within a few rows of each other, each tested on its own row (no list of
    every match); and a count starts from the index (`Driver`) and stops at its cap. MariaDB
    first lists the matches among the rarest trigram's candidates (`listed`), as many
    candidates need not mean many matches; only past the cap does it walk.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        condition = query.ilike(like_pattern(q), escape="\\")
        listed = condition if len(q) >= TRIGRAM else None  # no trigram: the GIN reads it all
        return Search(condition, estimate_first=True, listed=listed)
    if dialect == "mysql":
        return _mysql_search(session, query, q, common)
    return _sqlite_search(session, query, q, common)


def _entries(grams: FromClause, gram: ColumnElement[str]) -> Select[Any]:
    """A trigram's entries: a range of the side table's primary key (gram, job_id)."""
    return select(literal(1)).select_from(grams).where(grams.c.gram == gram)


def _capped(stmt: Select[Any], cap: int) -> ScalarSelect[Any]:
    return select(func.count()).select_from(stmt.limit(cap + 1).subquery()).scalar_subquery()


def _mysql_search(session: Session, query: ColumnElement[str], q: str, common: int) -> Search:
    # LOWER by the column's collation on both sides; compared as bytes (UTF-8 substrings are
    # byte substrings), so neither accents nor emoji compare equal as the collation would have.
    folded = func.lower(bindparam(None, q, type_=query.type))
    exact = func.instr(func.binary(func.lower(query)), func.binary(folded)) > 0
    if len(q) < TRIGRAM:
        return Search(exact)
    grams = table(GRAMS_TABLE, column("gram"), column("job_id"))
    picks = [func.substring(folded, start, TRIGRAM) for start in _positions(len(q))]
    counts = session.execute(
        select(*(_capped(select(literal(1)).where(grams.c.gram == g), common) for g in picks))
    ).one()
    found, rarest = min((int(n), i) for i, n in enumerate(counts))
    job_id: ColumnElement[str] = literal_column("scrape_jobs.id")
    guessed = None
    if found > common:  # every count hit its cap: the index's own estimates tell them apart
        estimates = [estimate(session, _entries(grams, pick)) for pick in picks]
        guessed, rarest = min((n, i) for i, n in enumerate(estimates))
    candidates = select(grams.c.job_id).where(grams.c.gram == picks[rarest])
    listed = and_(job_id.in_(candidates), exact)
    if found <= common:  # a page's worth of candidates: read again for a count costs less
        return Search(listed, listed=listed if found > FEW_CANDIDATES else None)
    # Many candidates need not mean many matches (`cats 99`: 2,222 jobs at 1 M, each of its
    # trigrams in over 10,000): they are listed from the rarest trigram's candidates with
    # their count, capped, and only past it does the page walk the table, counted from the
    # index (`Driver`) or its estimate.
    pick = grams.alias("pick")
    driver = Driver(pick, job_id == pick.c.job_id, and_(pick.c.gram == picks[rarest], exact))
    return Search(exact, driver, estimate_first=True, listed=listed, guessed=guessed)


# The only characters whose lowercase (Python's) holds an ASCII letter: İ -> i̇, K (Kelvin) -> k.
ASCII_FROM = ("\u0130", "\u212a")


def sqlite_scan(query: ColumnElement[str], q: str) -> ColumnElement[bool]:
    """SQLite: q, lowercased, in the row's query lowercased by the unicode-aware lower() every
    scraper connection registers. For an ASCII q, SQLite's LIKE (ASCII case folding, in C)
    decides every row that holds neither character of ASCII_FROM; only those call Python
    (`q=fo` at 100,000 jobs: 50,000 rows read for its count, 130 ms through Python)."""
    folded = q.lower()
    exact = func.instr(func.unicode_lower(query), folded) > 0
    if not folded.isascii():
        return exact
    odd = or_(*(func.instr(query, c) > 0 for c in ASCII_FROM))
    return or_(query.like(like_pattern(folded), escape="\\"), and_(odd, exact))


def _sqlite_search(session: Session, query: ColumnElement[str], q: str, common: int) -> Search:
    # No trigram to look up, or a dense match: the test on the row.
    scan = sqlite_scan(query, q)
    if len(q) < TRIGRAM:  # counted in rowid order, extrapolated past the cap
        return Search(scan, Driver(None, None, scan, ROWID))
    fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
    phrase = '"' + q.replace('"', '""') + '"'
    match = fts.c[FTS_TABLE].op("MATCH")(phrase)
    found = int(session.scalar(select(_capped(select(fts.c.rowid).where(match), common))) or 0)
    if found <= common:
        return Search(ROWID.in_(select(fts.c.rowid).where(match)))
    return Search(scan, Driver(fts, ROWID == fts.c.rowid, match, fts.c.rowid, alone=True))
