"""`q` (issue 23): the same jobs on every database as Python's `q.lower() in query.lower()`,
through each database's index (scraper.textsearch), kept in step by every write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.operations import ops as alembic_ops
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    delete,
    event,
    insert,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from ops.schema.render import render_operations
from scraper import textsearch
from scraper.db import make_engine, make_sessionmaker
from scraper.jobs import JobFilter
from scraper.jobs.reader import JobReader, JobSort
from scraper.jobs.reads import counting
from scraper.jobs.reads.counting import count_jobs
from scraper.jobs.reads.keyset import after_row
from scraper.migrations import alembic_config
from scraper.migrations.manage import check_schema, migrate
from scraper.models import Base, PostgreSQLIndex, ScrapeJob
from scraper.runtime import Runtime
from tests.plugins.statements import statements_of

CORPUS = [
    "red fox",
    "Red FOX jumps over",
    "arctic fox cubs",
    "foxglove",
    "Firefox",
    "fo",
    "f",
    "ox",
    "ÆRØ island",
    "ærø ferry",
    "Straße in Berlin",
    "Café au lait",
    "cafe racer",
    "ΑΘΗΝΑ Acropolis",
    "Москва река",
    "日本語テキスト",
    "🦊 emoji fox",
    "🐺 wolf",
    "100% sure",
    "1000 images",
    "snake_case name",
    "snakecase",
    'it\'s "quoted"',
    "back\\slash",
    "a_b%c",
    "  spaced  out  ",
]
QUERIES = [
    "fox", "FOX", "fo", "f", "ox", "x", "red fox", "red  fox", "d f", "fox ", "glove",
    "ærø", "ÆRØ", "æ", "Ø i", "straße", "STRASSE", "ss", "café", "cafe", "é",
    "θην", "αθ", "москва", "ВА", "本語", "語", "🦊", "🦊 e", "🐺",
    "%", "_", "0% s", "%c", "a_b", "e_c", "'", "'s \"", '"', "\\", "k\\s",
    "  ", "spaced  out", "zz", "zzz", "nothing here",
]  # fmt: skip


def _reference(q: str) -> set[str]:
    return {query for query in CORPUS if q.lower() in query.lower()}


def _row(query: str, n: int) -> dict[str, Any]:
    """A job with this query, the n-th newest."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    return {
        "id": str(uuid.uuid4()),
        "query": query,
        "max_content": 1,
        "enabled_sources": ["selftest"],
        "created_at": start - timedelta(seconds=n),
    }


def _fill(engine: Engine) -> dict[str, str]:
    rows = [_row(query, n) for n, query in enumerate(CORPUS)]
    with engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    return {row["query"]: row["id"] for row in rows}


def _found(runtime: Runtime, q: str) -> set[str]:
    """q's jobs on one first page that holds them all: its own exact total, whatever a count
    past its cap would have estimated."""
    page = runtime.jobs.reader.page(JobFilter(q=q), limit=200)
    assert (page.total, page.estimated) == (len(page.jobs), False), q
    return {job.query for job in page.jobs}


def test_q_finds_what_python_finds_on_every_database(runtime: Runtime) -> None:
    """Words, substrings (1 and 2 characters too), case, unicode, `%`, `_`, quotes and
    backslashes: the database's answer is Python's, and stays so across updates and deletes."""
    ids = _fill(runtime.engine)
    wrong = {q: (_found(runtime, q), _reference(q)) for q in QUERIES}
    assert {q: v for q, v in wrong.items() if v[0] != v[1]} == {}
    with runtime.engine.begin() as conn:
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids["red fox"]).values(query="grey"))
        conn.execute(delete(ScrapeJob).where(ScrapeJob.id == ids["Firefox"]))
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids["foxglove"]).values(progress=5))
    now = [q for q in CORPUS if q not in ("red fox", "Firefox")] + ["grey"]
    for q in ("fox", "fo", "grey", "red fox", "refo"):
        assert _found(runtime, q) == {c for c in now if q.lower() in c.lower()}, q


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_finds_the_letters_whose_lowercase_is_ascii(runtime: Runtime) -> None:
    """SQLite tests an ASCII q with its own LIKE (ASCII case folding), and only rows holding
    İ or the Kelvin sign with Python's lower(): `k9` still finds "K9" written with U+212A."""
    corpus = ["\u212a9 unit", "\u0130stanbul", "K9 plain", "ki", "unit"]
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), [_row(query, n) for n, query in enumerate(corpus)])
    for q in ("k9", "K9", "i", "9 u", "unit", "stanbul", "\u212a"):
        jobs, _ = runtime.jobs.reader.list_page(JobFilter(q=q), limit=200)
        assert {j.query for j in jobs} == {c for c in corpus if q.lower() in c.lower()}, q


@pytest.mark.parametrize(
    "db_url",
    ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)],
    indirect=True,
)
def test_a_common_q_walks_the_rows_and_counts_from_the_index(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `common` candidates (here 2, normally 10,000) MariaDB and SQLite test q on each
    row of the newest-first walk and count from the index: the same jobs as Python, newest
    first, the same total; a count past its cap is an estimate, never below the cap."""
    _fill(runtime.engine)
    monkeypatch.setattr(counting, "EXACT_LIMIT", 2)
    wrong = {q: (_found(runtime, q), _reference(q)) for q in QUERIES}
    assert {q: v for q, v in wrong.items() if v[0] != v[1]} == {}
    page = runtime.jobs.reader.page(JobFilter(q="fox", status="pending"), limit=2)
    assert [j.query for j in page.jobs] == ["red fox", "Red FOX jumps over"]
    assert page.total == len(_reference("fox"))  # counted through the index joined to jobs
    with runtime.Session() as s:
        found = textsearch.search(s, ScrapeJob.query, "fox", 2)
        assert found.driver is not None
        total = count_jobs(s, [], exact_limit=2, driver=found.driver)
    assert total.estimated and total.count >= 3, total


def _walk(runtime: Runtime, where: JobFilter, limit: int) -> list[str]:
    """Every job of a listing, page after page by cursor; each page's total is exact."""
    seen: list[str] = []
    after = None
    while True:
        page = runtime.jobs.reader.page(where, limit, after=after)
        seen += [j.query for j in page.jobs]
        assert not page.estimated, (where, page.total)
        if page.last is None:
            break
        after = after_row(where.sort, 0, page.last)
    assert page.total == len(seen), (where, page.total, seen)
    if page.jobs:  # past the last job: an empty page, still the listing's total
        last = page.jobs[-1]
        end = after_row(where.sort, 0, vars(last))
        empty = runtime.jobs.reader.page(where, limit, after=end)
        assert (empty.jobs, empty.total) == ([], len(seen)), where
    return seen


@pytest.mark.parametrize("sort", list(JobSort))
def test_q_pages_by_cursor_in_the_order_of_the_unfiltered_listing(
    runtime: Runtime, sort: JobSort
) -> None:
    """Paged 3 at a time by cursor, in every sort, a q's jobs are the whole listing's jobs
    that match, in the same order (PostgreSQL lists a q's few matches from its trigram
    bitmap; the unfiltered listing walks the indexes)."""
    rows = [_row(query, n) | {"progress": n % 4, "status": "failed" if n % 3 else "pending"}
            for n, query in enumerate(CORPUS)]  # fmt: skip
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    everything = _walk(runtime, JobFilter(sort=sort), 3)
    for q in ("fox", "ox", "café", "o", "nothing here"):
        expected = [query for query in everything if q.lower() in query.lower()]
        assert _walk(runtime, JobFilter(q=q, sort=sort), 3) == expected, (q, sort)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_pages_a_q_past_the_cap_by_the_walk(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed from the bitmap, a q's matches are capped at EXACT_LIMIT + 1 (here 3): past it
    they are a sample, so the page is the newest-first walk's and the total an estimate,
    never below the cap; under it the listing is counted exactly."""
    _fill(runtime.engine)
    monkeypatch.setattr(counting, "EXACT_LIMIT", 2)
    newest = [q for q in CORPUS if "fox" in q.lower()][:2]
    page = runtime.jobs.reader.page(JobFilter(q="fox"), limit=2)
    assert [j.query for j in page.jobs] == newest and page.last is not None
    assert page.estimated and page.total >= 3, page.total
    few = runtime.jobs.reader.page(JobFilter(q="ærø"), limit=1)
    assert (len(few.jobs), few.total, few.estimated) == (1, 2, False)


def _statements(conn: Connection) -> list[str]:
    seen: list[str] = []

    def keep(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn, "before_cursor_execute", keep)
    return seen


def test_migration_0010_indexes_existing_jobs_online_and_check_schema_knows_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs written before 0010 are found after it (backfilled in batches, here of 7); the
    index is built CONCURRENTLY on PostgreSQL; check-schema is in sync, and names a trigger or
    extension that goes missing."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0009")
    _fill(engine)
    monkeypatch.setattr(textsearch, "BACKFILL_BATCH", 7)
    with engine.connect() as conn:
        seen = _statements(conn)
        command.upgrade(alembic_config(connection=conn), "head")
    dialect = engine.dialect.name
    if dialect == "postgresql":
        assert any("CREATE INDEX CONCURRENTLY" in s and "gin_trgm_ops" in s for s in seen), seen
    else:
        assert len([s for s in seen if "INSERT" in s]) >= len(CORPUS) // 7, seen
    assert check_schema(engine).in_sync, check_schema(engine).differences
    runtime_q = _reader(engine)
    for q in ("fox", "fo", "ærø", "%"):
        assert runtime_q(q) == _reference(q), q
    _break_and_see(engine)
    engine.dispose()


def _reader(engine: Engine) -> Any:
    reader = JobReader(make_sessionmaker(engine))
    return lambda q: {j.query for j in reader.list_page(JobFilter(q=q), limit=200)[0]}


def _break_and_see(engine: Engine) -> None:
    """Drop what keeps `q` served and in step, write a job meanwhile: check-schema names the
    object on scrape_jobs, and migrate re-creates it and indexes the job written without it."""
    dialect = engine.dialect.name
    dropped = {
        "postgresql": ["DROP INDEX ix_scrape_jobs_query_trgm", "DROP EXTENSION pg_trgm"],
        "sqlite": ["DROP TRIGGER scrape_jobs_fts_insert"],
        "mysql": ["DROP TRIGGER scrape_jobs_trigrams_insert"],
    }[dialect]
    with engine.begin() as conn:
        for statement in dropped:
            conn.execute(text(statement))
        conn.execute(
            insert(ScrapeJob),
            {
                "id": str(uuid.uuid4()),
                "query": "written unseen",
                "max_content": 1,
                "enabled_sources": [],
            },
        )
    found = {(d.kind, d.table, d.expected) for d in check_schema(engine).differences}
    expected = {
        "postgresql": {
            ("missing_extension", "scrape_jobs", "extension pg_trgm"),
            ("missing_index", "scrape_jobs", "ix_scrape_jobs_query_trgm (query)"),
        },
        "sqlite": {("missing_trigger", "scrape_jobs", "trigger scrape_jobs_fts_insert")},
        "mysql": {("missing_trigger", "scrape_jobs", "trigger scrape_jobs_trigrams_insert")},
    }[dialect]
    assert found == expected
    report = migrate(engine)
    assert report.remaining == [] and report.refused == [], report.refused
    assert _reader(engine)("unseen") == {"written unseen"}


def test_the_trigram_index_is_the_one_index_with_postgresql_arguments_would_build() -> None:
    """`PostgreSQLIndex` defers its options (importing PostgreSQL's dialect) to their first
    read: the DDL, the Alembic operation and the keyword listing are those of
    `Index(..., postgresql_using=..., postgresql_ops=...)`, whatever was read first."""
    (model,) = (
        i for i in Base.metadata.tables["scrape_jobs"].indexes if i.name == textsearch.PG_INDEX
    )
    model.dialect_options["sqlite"]  # a listing must not depend on what was read before it
    apart = Table("scrape_jobs", MetaData(), Column("query", String(500)))  # the models unchanged
    plain = Index(
        textsearch.PG_INDEX,
        apart.c.query,
        postgresql_using="gin",
        postgresql_ops={"query": "gin_trgm_ops"},
    )
    assert dict(model.dialect_kwargs) == dict(plain.dialect_kwargs)
    dialect = postgresql.dialect()
    ddl = [str(CreateIndex(i).compile(dialect=dialect)) for i in (model, plain)]
    assert (
        ddl[0]
        == ddl[1]
        == (f"CREATE INDEX {textsearch.PG_INDEX} ON scrape_jobs USING gin (query gin_trgm_ops)")
    )
    rendered = [
        render_operations(dialect, [alembic_ops.CreateIndexOp.from_index(i)], Base.metadata)
        for i in (model, plain)
    ]
    assert rendered[0] == rendered[1]
    with pytest.raises(TypeError, match="wrong"):
        PostgreSQLIndex("ix_x", "query", postgresql={"wrong": 1}).dialect_options["postgresql"]


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_mariadb_lists_a_rare_q_whose_trigrams_are_all_common_from_the_index(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of q's trigrams past `common` candidates (here 2) yet few jobs match (`cats 99` at
    1 M jobs: 2,222 matches, every trigram in over 10,000 jobs): the matches among the rarest
    trigram's candidates are listed with their count in one statement (the candidates' job
    rows read once), instead of walking the table newest first (2.4 s at 1 M); past the cap
    the page is the walk's."""
    corpus = ["ab x1", "ab x2", "ab x3", "xb cz1", "xb cz2", "xb cz3", "q cd1", "q cd2"]
    corpus += ["q cd3", "AB CD one"]
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), [_row(query, n) for n, query in enumerate(corpus)])
    monkeypatch.setattr(counting, "EXACT_LIMIT", 2)
    with runtime.Session() as s:
        rare = textsearch.search(s, ScrapeJob.query, "ab cd", 2)
    assert rare.driver is not None and rare.listed is not None and rare.estimate_first
    seen = statements_of(runtime.engine, lambda: runtime.jobs.reader.page(JobFilter(q="ab cd"), 1))
    assert len([s for s in seen if "count(*) OVER ()" in s]) == 1, seen
    assert not [s for s in seen if "count(*) AS" in s and "scrape_jobs" in s], seen
    page = runtime.jobs.reader.page(JobFilter(q="ab cd"), limit=1)  # a full page: not its own total
    assert ([j.query for j in page.jobs], page.total, page.estimated) == (["AB CD one"], 1, False)
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), [_row(f"ab cd {n}", 20 + n) for n in range(3)])
    with runtime.Session() as s:
        dense = textsearch.search(s, ScrapeJob.query, "ab cd", 2)
    assert dense.driver is not None and dense.estimate_first
    found = runtime.jobs.reader.list_page(JobFilter(q="ab cd"), limit=200)[0]
    assert {j.query for j in found} == {"AB CD one", "ab cd 0", "ab cd 1", "ab cd 2"}
