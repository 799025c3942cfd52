"""The checks only the doctor makes: configuration, read before anything touches the disk."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

from healthchecks.base import CheckResult, Fix, Status
from healthchecks.paths import creatable, ownership, read_only_mount
from scraper.config import DEFAULT_SECRET_KEY, Settings

SETTINGS = "config:settings"
DATA_DIR = "config:data_dir"


def check_settings(settings: Settings, env: Mapping[str, str] | None = None) -> CheckResult:
    """Warn on settings that work but should not reach production (the default secret key)."""
    env = os.environ if env is None else env
    evidence = {
        "database_url_from": "--database-url or SCRAPER_DATABASE_URL"
        if env.get("SCRAPER_DATABASE_URL")
        else "default",
        "data_dir": str(settings.data_dir),
        "auto_heal": settings.auto_heal,
    }
    if settings.secret_key == DEFAULT_SECRET_KEY:
        return CheckResult(
            SETTINGS,
            Status.WARN,
            observed="default secret key",
            output="SCRAPER_SECRET_KEY is not set: sessions are signed with a public default.",
            fix='export SCRAPER_SECRET_KEY="$(openssl rand -hex 32)"',
            evidence=evidence,
        )
    return CheckResult(SETTINGS, Status.PASS, output="The settings are valid.", evidence=evidence)


def check_data_dir(settings: Settings) -> CheckResult:
    """The data directory must be a writable directory; missing but creatable only warns.

    Checked with permissions, not by writing a file: the doctor changes nothing.
    """
    path: Path = settings.data_dir
    evidence = {"data_dir": str(path.absolute()), "cwd": os.getcwd()}
    if path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return CheckResult(
                DATA_DIR,
                Status.PASS,
                observed=True,
                output=f"The data directory {path} exists and is writable.",
                evidence=evidence,
            )
        return _not_writable(path, evidence)
    if path.exists():
        return CheckResult(
            DATA_DIR,
            Status.FAIL,
            observed=False,
            output=f"The data directory {path} is not a directory: nothing can be downloaded.",
            fix=f"move the file {path} away, then: mkdir -p {path}",
            evidence=evidence,
        )
    if creatable(path):
        return CheckResult(
            DATA_DIR,
            Status.WARN,
            observed=False,
            output=f"The data directory {path} does not exist yet; `scraper serve` and "
            "`scraper worker` create it at start (so does the downloader).",
            fix=Fix(f"mkdir -p {path}", heal="mkdir"),
            evidence=evidence,
        )
    return CheckResult(
        DATA_DIR,
        Status.FAIL,
        observed=False,
        output=f"The data directory {path} does not exist and cannot be created here: "
        "downloads and the fallback journal cannot be written.",
        fix=f"create {path} as a user who may, and give it to the service user",
        evidence=evidence,
    )


def _not_writable(path: Path, evidence: dict[str, str]) -> CheckResult:
    """Say why: a filesystem mounted read-only, or permissions (owner and mode named)."""
    mount = read_only_mount(path)
    if mount is not None:
        evidence["read_only_mount"] = str(mount)
        output = (
            f"The data directory {path} is on a filesystem mounted read-only ({mount}): "
            "downloads and the fallback journal cannot be written."
        )
        fix = f"mount -o remount,rw {mount}  (or set SCRAPER_DATA_DIR to a writable filesystem)"
    else:
        user = getpass.getuser()
        evidence["permissions"] = ownership(path)
        output = (
            f"The data directory {path} is not writable by {user} ({ownership(path)}): "
            "downloads cannot be stored."
        )
        fix = f"chown -R {user} {path}  (or set SCRAPER_DATA_DIR)"
    return CheckResult(
        DATA_DIR, Status.FAIL, observed=False, output=output, fix=fix, evidence=evidence
    )


def bad_settings(error: str) -> CheckResult:
    """A setting could not be read at all: the only check the doctor can then make."""
    return CheckResult(
        SETTINGS,
        Status.FAIL,
        observed=None,
        output=f"The configuration is invalid: {error}.",
        fix="correct the variable named above in the environment",
        evidence={"error": error},
    )
