"""Remove what a trace left behind: its job, asset rows, files, and a temporary admin."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, select

from ops.trace.hops import FINAL, TraceState
from scraper.accounts import create_token, create_user
from scraper.errors import JobNotFound, one_line
from scraper.jobs.housekeeping import delete_job
from scraper.models import ApiToken, User
from scraper.runtime import Runtime


def remove_job(state: TraceState) -> list[str]:
    """Delete the test job from both stores, with its assets and files; say what was done."""
    if not state.job_id:
        return []
    done: list[str] = []
    if state.latest.get("status") not in FINAL:
        state.client.post(f"/api/jobs/{state.job_id}/cancel", {})
    if state.runtime.fallback.get(state.job_id) is not None:
        state.runtime.fallback.discard(state.job_id)
        done.append(f"discarded job {state.job_id} from the fallback store")
    try:
        done.extend(_remove_rows(state))
    except Exception as exc:  # the report says what could not be removed
        done.append(f"could not remove job {state.job_id} from the database: {exc}")
    return done


def _remove_rows(state: TraceState) -> list[str]:
    """The job's rows, its rollup counters and the files no other asset names, removed the way
    the service deletes a job (`delete_job`)."""
    try:
        removed = delete_job(state.runtime.Session, state.runtime.files, state.job_id)
    except JobNotFound:  # held in the fallback store only, or never created
        return []
    return [
        f"deleted job {state.job_id}: {removed.jobs} job row, {removed.assets} asset rows, "
        f"{removed.files} files"
    ]


@dataclass(frozen=True)
class TemporaryAdmin:
    """A throwaway admin and its token, for an in-process trace; `error` if none could be made."""

    username: str
    token: str | None
    error: str | None = None


@contextmanager
def temporary_admin(runtime: Runtime) -> Iterator[TemporaryAdmin]:
    """Create an admin user with a token; delete both afterwards."""
    name = f"ops-trace-{uuid.uuid4().hex[:8]}"
    try:
        create_user(runtime.Session, name, secrets.token_urlsafe(16), admin=True)
        admin = TemporaryAdmin(name, create_token(runtime.Session, name, "ops trace"))
    except Exception as exc:  # the API hop will show the consequence (401)
        admin = TemporaryAdmin(name, None, f"could not create a temporary admin: {one_line(exc)}")
    try:
        yield admin
    finally:
        if admin.token is not None:
            _delete_user(runtime, name)


def _delete_user(runtime: Runtime, name: str) -> None:
    with runtime.Session() as s, s.begin():
        user = s.scalar(select(User).where(User.username == name))
        if user is None:
            return
        s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        s.delete(user)
