"""`ops jobs` and `ops reconcile`: both job stores side by side, and moving held jobs home."""

from __future__ import annotations

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, ops_command, runtime_for


class JobStatusChoice(click.Choice):
    """`click.Choice` over scraper.models.JobStatus, read when `--status` is used or shown.

    Importing scraper.models pulls in SQLAlchemy's ORM and dialect modules (about half a
    second): kept off the start-up of commands that never list jobs, like `check-schema`.
    """

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        from scraper.models import JobStatus  # heavy: see the class docstring

        return [status.value for status in JobStatus]

    @choices.setter
    def choices(self, value: object) -> None:
        """click sets the choices in __init__; they come from JobStatus instead."""


@ops_command("jobs")
@click.option("--status", type=JobStatusChoice(), default=None, help="Only jobs with this status.")
@click.option(
    "--storage",
    type=click.Choice(["database", "fallback"]),
    default=None,
    help="Only jobs in this store (default: both).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10000),
    default=50,
    show_default=True,
    help="At most this many jobs (fallback ones first).",
)
def jobs_command(opts: Options, status: str | None, storage: str | None, limit: int) -> Outcome:
    """List jobs from the database and the fallback store together, each with its storage.

    Exit 1 when the database's jobs could not all be read (unreachable, a SQLite file that
    does not exist, no scrape_jobs table, missing columns): the fallback jobs are still listed.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.jobs import jobs_json, jobs_table, list_jobs

    opts.readonly = True
    page = list_jobs(runtime_for(opts, existing=False), status, storage, limit)
    problem = page.database_error or page.missing_columns
    return Outcome(jobs_json(page), jobs_table(page), PROBLEM if problem else OK)


@ops_command("reconcile")
def reconcile_command(opts: Options) -> Outcome:
    """Move fallback jobs into the database and say how many (a second run moves none)."""
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.jobs import reconcile_jobs

    summary = reconcile_jobs(runtime_for(opts))
    return Outcome(summary.to_json(), summary.text(), OK if summary.ok else PROBLEM)
