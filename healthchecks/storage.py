"""`storage:writable` and `storage:free_space`: can downloads be staged and stored?

Both check the configured backend: the data directory on disk, or an S3-compatible bucket
(a probe object written and deleted proves the endpoint, the bucket and the credentials).
A failure carries `evidence["problem"]` (`endpoint_unreachable`, `bucket_missing`,
`credentials_missing`, `credentials_refused`, `access_denied`, `backend_error`, or
`data_dir` for the disk) and the command that fixes it, for `ops doctor` to name.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from healthchecks.base import CheckResult, Fix, Status, guarded
from healthchecks.paths import creatable
from scraper.errors import one_line
from scraper.storage import FileStore, StorageUnavailable

if TYPE_CHECKING:
    from scraper.runtime import Runtime

WRITABLE = "storage:writable"
FREE_SPACE = "storage:free_space"
WARN_FREE_BYTES = 1024**3
FAIL_FREE_BYTES = 100 * 1024**2


def _where(runtime: Runtime) -> dict[str, Any]:
    files = runtime.files
    if isinstance(files, FileStore):
        return {"backend": "local", "data_dir": str(files.data_dir)}
    endpoint = runtime.settings.s3_endpoint_url or "AWS S3"
    return {"backend": "s3", "url": files.url, "endpoint": endpoint}


@guarded(WRITABLE, component_type="system")
def check_writable(runtime: Runtime) -> CheckResult:
    """Create and remove a probe file (or object) where downloads are stored."""
    where = _where(runtime)
    try:
        runtime.files.check_writable()
    except StorageUnavailable as exc:
        problem = exc.problem
        evidence = {**where, "problem": problem.kind, "error": problem.summary}
        return _writable(Status.FAIL, f"{problem.summary}.", evidence, problem.fix)
    except OSError as exc:
        return _local_failure(runtime, where, exc)
    if where["backend"] == "local":
        output = f"The data directory {where['data_dir']} is writable."
    else:
        output = f"The object store {where['url']} at {where['endpoint']} accepted a probe object."
    return _writable(Status.PASS, output, where, None)


def _local_failure(runtime: Runtime, where: dict[str, Any], exc: OSError) -> CheckResult:
    """The data dir (or the staging dir of an object store) cannot take a file."""
    place = str(runtime.files.data_dir)
    evidence = {**where, "problem": "data_dir", "error": one_line(exc, kind=True)}
    if isinstance(exc, FileNotFoundError) and creatable(runtime.files.data_dir):
        # made at start-up and on demand: not fatal
        output = f"The data directory {place} does not exist yet; it is created on demand."
        return _writable(Status.WARN, output, evidence, Fix(f"mkdir -p {place}", heal="mkdir"))
    fix = (
        f"mkdir -p {place}"
        if isinstance(exc, FileNotFoundError)
        else f"make {place} writable by the service user (or set SCRAPER_DATA_DIR)"
    )
    output = f"Cannot write to the data directory {place}: {one_line(exc, kind=True)}."
    return _writable(Status.FAIL, output, evidence, fix)


def _writable(
    status: Status, output: str, evidence: dict[str, Any], fix: str | None
) -> CheckResult:
    return CheckResult(
        WRITABLE,
        status,
        observed=status is Status.PASS,
        output=output,
        fix=fix,
        evidence=evidence,
        component_type="system",
    )


def _existing_parent(runtime: Runtime) -> str:
    path = runtime.files.data_dir.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return str(path)


@guarded(FREE_SPACE, unit="bytes", component_type="system")
def check_free_space(runtime: Runtime) -> CheckResult:
    """Warn under 1 GiB free for downloads, fail under 100 MiB.

    With an object store the bucket has no free-space figure; what can run out is the
    local disk every download is staged on before it is uploaded.
    """
    usage = shutil.disk_usage(_existing_parent(runtime))
    free = usage.free
    status = Status.PASS
    if free < FAIL_FREE_BYTES:
        status = Status.FAIL
    elif free < WARN_FREE_BYTES:
        status = Status.WARN
    mib = free // 1024**2
    where = str(runtime.files.data_dir)
    staged = "" if isinstance(runtime.files, FileStore) else f" (staging for {runtime.files.url})"
    return CheckResult(
        FREE_SPACE,
        status,
        observed=free,
        unit="bytes",
        output=f"{mib} MiB free under {where}{staged}."
        if status is Status.PASS
        else f"Only {mib} MiB free under {where}{staged}; free space or move SCRAPER_DATA_DIR.",
        fix=None if status is Status.PASS else f"free disk space under {where}",
        evidence={**_where(runtime), "total_bytes": usage.total, "free_bytes": free},
        component_type="system",
    )
