"""`ops doctor`: every check, the root cause with its evidence, and the fix."""

from __future__ import annotations

import click

from ops.cli.base import OK, PROBLEM, Options, Outcome, ops_command, runtime_for, sqlite_missing
from ops.errors import OpsError


@ops_command("doctor")
@click.option("--heal", "apply_heal", is_flag=True, help="Apply the safe fixes, then re-check.")
def doctor_command(opts: Options, apply_heal: bool) -> Outcome:
    """Run every check, name the root cause with evidence and the fix; exit 1 on any problem.

    --heal applies the safe fixes (additive migrate, reconcile, requeue expired leases,
    create a missing data dir) and reports before and after.
    """
    # heavy imports (the service, Flask, the checks) load only when this command runs
    from ops.doctor import diagnose, diagnose_config_error, heal
    from ops.doctor.render import render_diagnosis, render_heal

    opts.readonly = not apply_heal or sqlite_missing(opts.database_url)
    try:
        runtime = runtime_for(opts, existing=False)  # a missing file is a diagnosis
    except OpsError as exc:
        found = diagnose_config_error(str(exc))
        return Outcome(found.to_json(), render_diagnosis(found), PROBLEM)
    if apply_heal:
        report = heal(runtime)
        code = PROBLEM if report.after.problem else OK
        return Outcome(report.to_json(), render_heal(report), code)
    diagnosis = diagnose(runtime)
    return Outcome(
        diagnosis.to_json(), render_diagnosis(diagnosis), PROBLEM if diagnosis.problem else OK
    )
