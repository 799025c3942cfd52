"""`storage:writable` and `storage:free_space`: can downloads be written to the data dir?"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from healthchecks.base import CheckResult, Fix, Status, describe_error, guarded
from healthchecks.paths import creatable

if TYPE_CHECKING:
    from scraper.runtime import Runtime

WRITABLE = "storage:writable"
FREE_SPACE = "storage:free_space"
WARN_FREE_BYTES = 1024**3
FAIL_FREE_BYTES = 100 * 1024**2


@guarded(WRITABLE, component_type="system")
def check_writable(runtime: Runtime) -> CheckResult:
    """Create and remove a probe file under the data directory."""
    where = str(runtime.files.data_dir)
    try:
        runtime.files.check_writable()
    except FileNotFoundError as exc:
        if creatable(runtime.files.data_dir):  # made at start-up and on demand: not fatal
            return CheckResult(
                WRITABLE,
                Status.WARN,
                observed=False,
                output=f"The data directory {where} does not exist yet; it is created on demand.",
                fix=Fix(f"mkdir -p {where}", heal="mkdir"),
                evidence={"data_dir": where, "error": describe_error(exc)},
                component_type="system",
            )
        return _not_writable(where, exc)
    except OSError as exc:
        return _not_writable(where, exc)
    return CheckResult(
        WRITABLE,
        Status.PASS,
        observed=True,
        output=f"The data directory {where} is writable.",
        evidence={"data_dir": where},
        component_type="system",
    )


def _not_writable(where: str, exc: OSError) -> CheckResult:
    return CheckResult(
        WRITABLE,
        Status.FAIL,
        observed=False,
        output=f"Cannot write to the data directory {where}: {describe_error(exc)}.",
        fix=f"mkdir -p {where}"
        if isinstance(exc, FileNotFoundError)
        else f"make {where} writable by the service user (or set SCRAPER_DATA_DIR)",
        evidence={"data_dir": where, "error": describe_error(exc)},
        component_type="system",
    )


def _existing_parent(runtime: Runtime) -> str:
    path = runtime.files.data_dir.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return str(path)


@guarded(FREE_SPACE, unit="bytes", component_type="system")
def check_free_space(runtime: Runtime) -> CheckResult:
    """Warn under 1 GiB free for downloads, fail under 100 MiB."""
    usage = shutil.disk_usage(_existing_parent(runtime))
    free = usage.free
    status = Status.PASS
    if free < FAIL_FREE_BYTES:
        status = Status.FAIL
    elif free < WARN_FREE_BYTES:
        status = Status.WARN
    mib = free // 1024**2
    where = str(runtime.files.data_dir)
    return CheckResult(
        FREE_SPACE,
        status,
        observed=free,
        unit="bytes",
        output=f"{mib} MiB free under {where}."
        if status is Status.PASS
        else f"Only {mib} MiB free under {where}; free space or move SCRAPER_DATA_DIR.",
        fix=None if status is Status.PASS else f"free disk space under {where}",
        evidence={"data_dir": where, "total_bytes": usage.total, "free_bytes": free},
        component_type="system",
    )
