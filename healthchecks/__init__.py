"""Health checks: one module per check, served by /healthz and /readyz and used by `ops doctor`.

`run_checks(runtime, names=None)` returns `CheckResult`s; `CHECKS` maps each name
(`database:connection`, `database:writes`, `database:locks`, `schema:in_sync`,
`worker:heartbeat`, `queue:oldest_pending_age`,
`jobs:expired_leases`, `storage:writable`, `storage:free_space`, `fallback:jobs`) to its check.
"""

from healthchecks.base import CheckResult, Status, worst
from healthchecks.registry import CHECKS, Check, run_checks, select_checks

__all__ = ["CHECKS", "Check", "CheckResult", "Status", "run_checks", "select_checks", "worst"]
