"""`ops trace` and `ops smoke`: a test job followed hop by hop, against a running service or a
stack built from nothing."""

from __future__ import annotations

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, ops_command, runtime_for


@ops_command("trace")
@click.option("--url", default=None, help="Base URL of a running service (default: in-process).")
@click.option(
    "--token",
    envvar="SCRAPER_API_TOKEN",
    show_envvar=True,
    default=None,
    help="API token sent as Bearer (default: a temporary admin, in-process only).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the test job to finish.",
)
def trace_command(opts: Options, url: str | None, token: str | None, timeout: float) -> Outcome:
    """Submit a selftest job and follow it hop by hop; name the first broken hop (exit 1).

    The database and data-dir hops read --database-url and SCRAPER_DATA_DIR: point them at
    the service's own. Without --url an in-process app and worker serve the trace, and a
    database it cannot reach means it cannot run (exit 2).
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.jobs import ensure_reachable
    from ops.trace import render_text, trace, trace_url

    runtime = runtime_for(opts)
    if not url:  # in-process, the service's own database must answer: else it cannot run
        ensure_reachable(runtime)
    report = trace_url(url, token, runtime, timeout) if url else trace(runtime, token, timeout)
    return Outcome(report.to_json(), render_text(report), OK if report.ok else PROBLEM)


@ops_command(
    "smoke",
    database_url_help="An empty database to build the stack in (default: a temporary SQLite "
    "file; SCRAPER_DATABASE_URL is not used).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the test job to finish (the server gets 30 s to start).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary directory (and tables) to inspect.")
def smoke_command(opts: Options, timeout: float, keep: bool) -> Outcome:
    """Start the stack from nothing (database, server on a free port, worker), trace a job
    through it, tear it down.

    The database is a temporary SQLite file unless --database-url names one, which must be
    empty (no tables: say, a new PostgreSQL database, to smoke-test that dialect); the
    tables made there are dropped at the end unless --keep. A database that has tables is
    refused (exit 2): the stack's worker would run its jobs.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.smoke import render_text, smoke

    given = opts.database_url if _given() else None
    report = smoke(timeout, keep, given)
    return Outcome(report.to_json(), render_text(report), OK if report.ok else PROBLEM)


def _given() -> bool:
    """Whether --database-url was given on the command line (not taken from the environment:
    a smoke test run where the service is configured must not touch its database)."""
    source = click.get_current_context().get_parameter_source("database_url")
    return source is click.core.ParameterSource.COMMANDLINE
