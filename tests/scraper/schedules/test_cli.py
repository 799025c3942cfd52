"""`scraper schedule add|list|pause|resume|remove` against a real database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scraper.accounts import create_user
from scraper.cli import main
from scraper.runtime import Runtime
from tests.conftest import sqlite_only

pytestmark = sqlite_only


def _run(runtime: Runtime, *args: str) -> tuple[int, str, str]:
    url = runtime.settings.database_url
    result = CliRunner().invoke(main, ["schedule", *args, "--database-url", url])
    return result.exit_code, result.stdout, result.stderr


def test_add_list_pause_resume_remove(runtime: Runtime) -> None:
    create_user(runtime.Session, "root", "correct horse battery", admin=True)
    code, out, err = _run(
        runtime, "add", "red pandas", "--cron", "30 2 * * *", "--timezone", "Europe/Berlin",
        "--sources", "selftest", "--max-content", "4", "--json",
    )  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    sid = added["schedule_id"]
    assert (added["query"], added["max_content"], added["owner"]) == ("red pandas", 4, "root")
    assert added["cron"] == "30 2 * * *" and added["next_run_at"] is not None
    code, out, _ = _run(runtime, "list")
    assert code == 0 and out.startswith(f"{sid}  'red pandas'  [selftest]  30 2 * * *")
    code, out, _ = _run(runtime, "pause", str(sid), "--json")
    assert code == 0 and json.loads(out)["paused"] is True
    assert "paused" in _run(runtime, "list")[1]
    code, out, _ = _run(runtime, "resume", str(sid), "--json")
    assert code == 0 and json.loads(out)["paused"] is False
    code, _, err = _run(runtime, "remove", str(sid))
    assert code == 0 and "removed" in err
    assert json.loads(_run(runtime, "list", "--json")[1]) == {"schedules": []}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cron", "61 * * * *"], "--cron"),
        (["--cron", "* * * * * *"], "under one minute"),
        (["--cron", "@hourly", "--timezone", "Nowhere/Atlantis"], "--timezone"),
        (["--cron", "@hourly", "--sources", "nope"], "--sources"),
        (["--cron", "@hourly", "--max-content", "0"], "--max-content"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_option(
    runtime: Runtime, args: list[str], words: str
) -> None:
    create_user(runtime.Session, "root", "correct horse battery", admin=True)
    code, _, err = _run(runtime, "add", "cats", *args)
    assert code == 2 and words in err and "Traceback" not in err
    assert json.loads(_run(runtime, "list", "--json")[1]) == {"schedules": []}


def test_unknown_id_and_missing_owner_are_one_line_failures(runtime: Runtime) -> None:
    code, _, err = _run(runtime, "pause", "42")
    assert code == 1 and "no schedule with id 42" in err
    code, _, err = _run(runtime, "add", "cats", "--cron", "@hourly")
    assert code == 1 and "no admin user" in err
