"""The online plan of each repair operation per dialect: the statement, its lock, online or not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import mysql, postgresql, sqlite

from ops.schema.online import Server, plan_steps
from scraper.models import Base

JOBS = Base.metadata.tables["scrape_jobs"]
INDEX = next(i for i in JOBS.indexes if i.name == "ix_scrape_jobs_status_created_at")
TOKENS = Base.metadata.tables["api_tokens"]
FK = next(iter(TOKENS.foreign_key_constraints))
USERS = Base.metadata.tables["users"]
UNIQUE = next(c for c in USERS.constraints if isinstance(c, sa.UniqueConstraint))

PG = Server(postgresql.dialect(), (16, 1), False, Base.metadata)
MARIADB = Server(mysql.dialect(), (10, 11, 6), True, Base.metadata)
SQLITE = Server(sqlite.dialect(), (3, 45), False, Base.metadata)


def steps(server: Server, *operations: ops.MigrateOperation) -> list[tuple[str, bool]]:
    return [(s.sql, s.online) for s in plan_steps(server, list(operations))]


def test_postgresql_builds_a_missing_index_concurrently_and_drops_a_leftover_first() -> None:
    [step] = plan_steps(PG, [ops.CreateIndexOp.from_index(INDEX)])
    assert step.sql.startswith("CREATE INDEX CONCURRENTLY ix_scrape_jobs_status_created_at")
    assert (step.online, step.concurrent, step.index) == (True, True, INDEX.name)
    assert step.lock.startswith("SHARE UPDATE EXCLUSIVE")
    assert step.undo == f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}"


def test_postgresql_unique_constraint_is_a_concurrent_index_then_attached() -> None:
    [build, attach] = plan_steps(PG, [ops.CreateUniqueConstraintOp.from_constraint(UNIQUE)])
    assert build.sql.startswith(f"CREATE UNIQUE INDEX CONCURRENTLY {UNIQUE.name} ON users")
    assert attach.sql.endswith(f"UNIQUE USING INDEX {UNIQUE.name}")
    assert build.online and attach.online and attach.held == "brief"


def test_postgresql_foreign_key_is_added_not_valid_then_validated() -> None:
    [add, validate] = steps(PG, ops.CreateForeignKeyOp.from_constraint(FK))
    assert add[0].startswith("ALTER TABLE api_tokens ADD CONSTRAINT") and add[0].endswith(
        "NOT VALID"
    )
    assert validate == (f"ALTER TABLE api_tokens VALIDATE CONSTRAINT {FK.name}", True)


def test_postgresql_set_not_null_goes_through_a_validated_check() -> None:
    op = ops.AlterColumnOp("scrape_jobs", "message", modify_nullable=False)
    sql = [s for s, _ in steps(PG, op)]
    assert sql[0] == sql[4]  # a leftover of an interrupted run is dropped first
    assert sql[0].startswith("ALTER TABLE scrape_jobs DROP CONSTRAINT IF EXISTS")
    assert sql[1].endswith("CHECK (message IS NOT NULL) NOT VALID")
    assert sql[2].startswith("ALTER TABLE scrape_jobs VALIDATE CONSTRAINT")
    assert sql[3] == "ALTER TABLE scrape_jobs ALTER COLUMN message SET NOT NULL"


@pytest.mark.parametrize(
    ("old", "new", "online"),
    [
        (sa.String(32), sa.String(128), True),
        (sa.String(32), sa.Text(), True),
        (sa.String(128), sa.String(32), False),
        (sa.Integer(), sa.String(20), False),
    ],
)
def test_postgresql_type_change_runs_online_only_without_a_rewrite(
    old: sa.types.TypeEngine, new: sa.types.TypeEngine, online: bool
) -> None:
    op = ops.AlterColumnOp("scrape_jobs", "locked_by", existing_type=old, modify_type=new)
    [step] = plan_steps(PG, [op])
    assert step.online is online
    assert step.held == ("brief" if online else "rewrite")
    if not online:
        assert "backfill" in step.note


def test_postgresql_column_with_a_volatile_default_rewrites_the_table() -> None:
    column = sa.Column("token", sa.String(36), server_default=sa.text("gen_random_uuid()"))
    [step] = plan_steps(PG, [ops.AddColumnOp("scrape_jobs", column)])
    assert not step.online and step.held == "rewrite"
    [plain] = plan_steps(PG, [ops.AddColumnOp("scrape_jobs", sa.Column("n", sa.Integer))])
    assert plain.online and plain.held == "brief"


def test_mariadb_asks_for_instant_or_inplace_without_locks() -> None:
    [index] = steps(MARIADB, ops.CreateIndexOp.from_index(INDEX))
    assert index == (
        "CREATE INDEX ix_scrape_jobs_status_created_at ON scrape_jobs (status, created_at)"
        " ALGORITHM=INPLACE LOCK=NONE",
        True,
    )
    [column] = plan_steps(MARIADB, [ops.AddColumnOp("scrape_jobs", sa.Column("n", sa.Integer))])
    assert column.sql.endswith(", ALGORITHM=INSTANT") and column.instead
    assert column.instead.endswith("ALGORITHM=INPLACE, LOCK=NONE")


def test_mariadb_foreign_key_is_added_in_place_unchecked_then_its_rows_are_read() -> None:
    [step] = plan_steps(MARIADB, [ops.CreateForeignKeyOp.from_constraint(FK)])
    assert step.online and step.unchecked and "LOCK=NONE" in step.lock
    assert step.sql.endswith("ALGORITHM=INPLACE, LOCK=NONE") and step.plain
    assert (
        step.verify is not None
        and "NOT EXISTS" in step.verify
        and "p.id = c.user_id" in step.verify
    )
    assert step.undo == "ALTER TABLE api_tokens DROP FOREIGN KEY fk_api_tokens_user_id_users"


def test_mariadb_check_constraint_copies_the_table_and_is_not_online() -> None:
    check = sa.CheckConstraint("n > 0", name="ck_t_n")
    sa.Table("t", sa.MetaData(), sa.Column("n", sa.Integer), check)
    [step] = plan_steps(MARIADB, [ops.CreateCheckConstraintOp.from_constraint(check)])
    assert not step.online and "COPY" in step.lock


def test_sqlite_index_build_holds_the_write_lock_but_adding_a_column_is_brief() -> None:
    [index] = plan_steps(SQLITE, [ops.CreateIndexOp.from_index(INDEX)])
    assert not index.online and "write lock" in index.lock
    [column] = plan_steps(SQLITE, [ops.AddColumnOp("scrape_jobs", sa.Column("n", sa.Integer))])
    assert column.online and column.held == "brief"
