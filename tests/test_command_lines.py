"""Both command lines, `scraper` and `ops`, keep the habits people expect of a CLI.

`-h` and `--version`; help on every command and option; a usage error in one line with exit
2; an expected failure (a database it cannot reach, a SQLite file that does not exist, a URL
of no known kind) in one line with its documented exit code, never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect

from ops.cli import main as ops_main
from ops.smoke import scraper_command
from scraper.cli import main as scraper_main

CLIS = {"scraper": scraper_main, "ops": ops_main}
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # nothing listens on port 1
BOGUS = "bogus://x"


def walk(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand under `group`, with its full name."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # `ops` imports a command's module on first use
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = [
    pytest.param(cli, name, command, id=name)
    for cli, group in CLIS.items()
    for name, command in walk(group, (cli,))
]


@pytest.mark.parametrize(("cli", "name", "command"), COMMANDS)
def test_every_command_and_option_has_help(cli: str, name: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"`{name}` has no help text"
    bare = [
        "/".join(p.opts)
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert bare == [], f"`{name}`: options without help: {bare}"
    for argument in (p for p in command.params if isinstance(p, click.Argument)):
        label = argument.human_readable_name
        assert label in (command.help or ""), f"`{name}`'s help does not say what {label} is"


@pytest.mark.parametrize(("cli", "name", "command"), COMMANDS)
def test_every_command_takes_the_options_the_spec_names(
    cli: str, name: str, command: click.Command
) -> None:
    if isinstance(command, click.Group):
        return
    options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    assert "--database-url" in options
    if cli == "ops":
        assert "--json" in options


@pytest.mark.parametrize(("cli", "name", "command"), COMMANDS)
def test_every_command_takes_dash_h(cli: str, name: str, command: click.Command) -> None:
    result = CliRunner().invoke(CLIS[cli], [*name.split()[1:], "-h"], prog_name=cli)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {cli} ") and "-h, --help" in result.stdout


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_version_and_dash_h_on_the_group(cli: str) -> None:
    version = CliRunner().invoke(CLIS[cli], ["--version"], prog_name=cli)
    assert version.exit_code == 0
    assert version.stdout.startswith(f"{cli} ") and version.stdout.split()[1][0].isdigit()
    assert "-h, --help" in CliRunner().invoke(CLIS[cli], ["-h"]).stdout


def test_timeouts_give_their_unit_and_concurrency_is_told_apart() -> None:
    texts = {
        name: " ".join(p.help or "" for p in command.params if isinstance(p, click.Option))
        for _cli, name, command in (param.values for param in COMMANDS)
    }
    assert "Seconds" in texts["ops trace"] and "Seconds" in texts["ops smoke"]
    assert "SCRAPER_JOB_CONCURRENCY" in texts["scraper worker"]
    assert "SCRAPER_JOB_CONCURRENCY" in texts["scraper serve"]
    trace_help = CliRunner().invoke(ops_main, ["trace", "-h"]).stdout
    assert "env var: SCRAPER_API_TOKEN" in " ".join(trace_help.split())


def one_line_error(result: Result) -> str:
    """The error a failed command printed: exactly one `error: ...` line on stderr."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("cli", "args"),
    [
        ("scraper", ["nope"]),
        ("scraper", ["--bogus"]),
        ("scraper", ["search"]),
        ("scraper", ["search", "fox", "--source", "selftest", "--limit", "0"]),
        ("scraper", ["create-user"]),
        ("ops", ["jobs", "--limit", "0"]),
        ("ops", ["check-schema", "--bogus"]),
        ("ops", ["storage", "migrate"]),
        ("ops", ["trace", "--timeout", "abc"]),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(cli: str, args: list[str]) -> None:
    result = CliRunner().invoke(CLIS[cli], args)
    assert result.exit_code == 2
    assert "-h'" in one_line_error(result)  # it says where the right usage is
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("query", "source", "named"),
    [
        ("", "selftest", "QUERY"),
        ("   ", "selftest", "QUERY"),
        ("ftp://example.org/a", "url", "ftp"),
    ],
)
def test_search_refuses_what_the_api_refuses(
    query: str, source: str, named: str, tmp_path: Path
) -> None:
    env = {"SCRAPER_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(scraper_main, ["search", query, "--source", source], env=env)
    assert result.exit_code == 2
    assert named in one_line_error(result)
    assert not (tmp_path / "data" / "downloads").exists()


# (command, the database it is pointed at, the exit code the command documents)
FAILURES = [
    *[
        (["scraper", *cmd], target, 2)
        for cmd in (
            ["create-user", "bob", "--password", "long enough 1"],
            ["reset-password", "bob", "--password", "long enough 1"],
            ["create-token", "bob"],
        )
        for target in ("unreachable", "missing", "bogus", "ftp")
    ],
    *[  # the server runs through an outage, but not on a URL of no known kind
        (["scraper", "serve", "--port", "0", "--no-worker"], target, 2)
        for target in ("bogus", "ftp")
    ],
    *[  # nor does a worker start on a database that never answers (SCRAPER_DB_STARTUP_WAIT)
        (["scraper", "worker"], target, 2) for target in ("unreachable", "bogus", "ftp")
    ],
    *[
        (["ops", *cmd], target, 2)
        for cmd in (["check-schema"], ["reconcile"], ["trace", "--timeout", "5"])
        for target in ("unreachable", "missing", "bogus", "ftp")
    ],
    *[
        (["ops", *cmd], target, 2)
        for cmd in (["init-db"], ["migrate"], ["smoke"])
        for target in ("unreachable", "bogus")
    ],
    (["ops", "migrate", "--dry-run"], "missing", 2),
    (["ops", "migrate", "--sql"], "missing", 2),
    *[(["ops", "jobs"], target, 1) for target in ("unreachable", "missing")],
    (["ops", "jobs"], "bogus", 2),
]


def target_url(target: str, tmp_path: Path) -> str:
    return {
        "unreachable": UNREACHABLE,
        "missing": f"sqlite:///{tmp_path / 'missing' / 'scraper.db'}",
        "bogus": BOGUS,
        "ftp": "ftp://example.org/db",
    }[target]


@pytest.mark.parametrize(
    ("command", "target", "code"),
    [pytest.param(*f, id=f"{' '.join(f[0][:2])}-{f[1]}") for f in FAILURES],
)
def test_an_expected_failure_is_one_line_with_its_exit_code(
    command: list[str], target: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SCRAPER_DB_STARTUP_WAIT", "0")  # one try: a worker gives up at once
    cli, *args = command
    result = CliRunner().invoke(CLIS[cli], [*args, "--database-url", target_url(target, tmp_path)])
    assert result.exit_code == code, result.output
    if code == 2:
        line = one_line_error(result)
        assert "Traceback" not in result.output
        if target == "missing":
            assert "does not exist" in line
        if target == "bogus":
            assert "no database of kind 'bogus'" in line
    else:  # `ops jobs` ran: the fallback jobs are listed, and why the database's are not
        assert result.stderr == "" and "the database could not be read" in result.stdout
    assert not (tmp_path / "missing").exists()  # a missing SQLite file is not created


@pytest.mark.parametrize("target", ["unreachable", "missing", "bogus"])
def test_doctor_diagnoses_a_database_it_cannot_use(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(
        ops_main, ["doctor", "--database-url", target_url(target, tmp_path)]
    )
    assert result.exit_code == 1 and result.stderr == ""
    assert "Root cause" in result.stdout and "mode=ro" not in result.stdout
    assert not (tmp_path / "missing").exists()


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    return env | {"SCRAPER_DATA_DIR": str(tmp_path / "data")}


@pytest.mark.parametrize(
    "command",
    [
        [*scraper_command(), "create-token", "bob", "--database-url", UNREACHABLE],
        [str(Path(sys.executable).with_name("ops")), "check-schema", "--database-url", BOGUS],
    ],
    ids=["scraper", "ops"],
)
def test_a_real_process_prints_one_line_and_no_traceback(
    command: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("error: ")


@pytest.mark.slow
def test_serve_on_a_dead_database_starts_and_says_so_in_one_line(tmp_path: Path) -> None:
    """The service runs through an outage (jobs are held in the fallback store): a warning,
    not a traceback, and no chained one; it does not wait for the database first."""
    cmd = [*scraper_command(), "serve", "--port", "0", "--no-worker", "--database-url", UNREACHABLE]
    log = tmp_path / "serve.log"
    env = _env(tmp_path) | {"SCRAPER_DB_STARTUP_WAIT": "60"}  # a worker's wait: not the server's
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stderr=out, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "Serving on" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(20)
    text = log.read_text()
    assert "Serving on" in text and "Traceback" not in text
    assert "not reachable (attempt" not in text
    repair = [line for line in text.splitlines() if "schema repair" in line]
    assert repair and all("Connection refused" in line for line in repair), text


@pytest.mark.slow
def test_smoke_refuses_a_database_that_has_tables(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE scrape_jobs (id TEXT)")
    result = CliRunner().invoke(ops_main, ["smoke", "--database-url", f"sqlite:///{path}"])
    assert result.exit_code == 2
    assert "has tables (scrape_jobs)" in one_line_error(result)
    with sqlite3.connect(path) as conn:  # left as it was
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("scrape_jobs",)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_smoke_on_an_empty_database_passes_and_leaves_it_empty(db_url: str) -> None:
    ops = str(Path(sys.executable).with_name("ops"))
    done = subprocess.run(
        [ops, "smoke", "--database-url", db_url, "--timeout", "60"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke: PASS" in done.stdout
    engine = create_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_jobs_names_the_database_as_given_not_its_read_only_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(tmp_path / "data"))
    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(b"not a database" * 512)
    url = f"sqlite:///{garbage}"
    result = CliRunner().invoke(ops_main, ["jobs", "--database-url", url])
    assert result.exit_code == 1
    assert f"cannot connect to {url}: file is not a database" in result.stdout
    assert "mode=ro" not in result.stdout and "file%3A" not in result.stdout
