"""Housekeeping over HTTP: delete a job (API and the job page's button) and download a
job's files as one streamed zip with its `metadata.json`."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from pydantic import BaseModel, Field

from scraper.errors import JobNotFound, JobStateError
from scraper.jobs.archive import stream_archive
from scraper.jobs.housekeeping import Removed, delete_job
from scraper.jobs.reads.assets import list_assets
from scraper.web.auth import owner_filter
from scraper.web.common import find_job, job_json
from scraper.web.context import current_runtime
from scraper.web.dashboard import no_such_job
from scraper.web.errors import ApiError
from scraper.web.operation import POSTED, documented

api = Blueprint("housekeeping_api", __name__, url_prefix="/api")
ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
pages = Blueprint("housekeeping", __name__)
MAX_ARCHIVE_FILES = 100_000


def remove(job_id: str) -> Removed:
    """Delete a job the signed-in user may see: 404 if not theirs, 409 while it is active."""
    record = find_job(job_id)
    if record.storage == "fallback":
        raise ApiError(
            409, "conflict", f"job {job_id} is held in the fallback store; cancel it first"
        )
    runtime = current_runtime()
    try:
        return delete_job(runtime.Session, runtime.files, job_id, owner_filter())
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job with id {job_id!r}") from None
    except JobStateError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


class JobDeleted(BaseModel):
    """What `DELETE /api/jobs/<job_id>` removed."""

    deleted: str
    files_removed: int = Field(ge=0, description="Stored files no other asset referenced.")


@api.delete("/jobs/<job_id>")
@documented(response=JobDeleted, errors=(404, 409), expensive=True)
def delete(job_id: str) -> ResponseReturnValue:
    """Delete a finished job, its asset rows and every stored file no other asset references."""
    removed = remove(job_id)
    return {"deleted": job_id, "files_removed": removed.files}


@api.get("/jobs/<job_id>/archive")
@documented(
    errors=(404,),
    responses={200: {"description": "The zip.", "content": ZIP}},
    expensive=True,
)
def archive(job_id: str) -> ResponseReturnValue:
    """The job's files and `metadata.json` as one zip, streamed as it is written."""
    record = find_job(job_id)
    runtime = current_runtime()
    assets = list_assets(runtime.Session, job_id, owner_filter(), MAX_ARCHIVE_FILES).assets
    assets.reverse()  # oldest first: the order the job stored them
    body = stream_archive(runtime.files, job_json(record), assets)
    response = Response(body, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job_id}.zip"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/jobs/<job_id>/delete")
@login_required
@documented(
    summary="Delete a finished job from its page",
    page=True,
    status=302,
    errors=(*POSTED, 404),
    expensive=True,
)
def delete_from_page(job_id: str) -> ResponseReturnValue:
    """The job page's Delete button: back to the dashboard, or to the job if refused."""
    try:
        removed = remove(job_id)
    except ApiError as exc:
        if exc.status == 404:
            abort(404, description=no_such_job(job_id))
        flash(exc.message, "error")
        return redirect(url_for("dashboard.job", job_id=job_id))
    flash(f"Job deleted ({removed.assets} asset(s), {removed.files} file(s) removed).", "info")
    return redirect(url_for("dashboard.index"))


def init_app(app: Flask) -> None:
    """Register the delete and archive endpoints and the job page's delete form."""
    app.register_blueprint(api)
    app.register_blueprint(pages)
