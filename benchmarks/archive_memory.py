"""A job archive's peak memory: stream the zip of a job of N MiB of files (not a test).

    .venv/bin/python benchmarks/archive_memory.py [--files N] [--mib-per-file N]

Stores N random files on local disk as one job's assets (SQLite), streams the archive to
/dev/null and prints the bytes written, the throughput and the peak of Python allocations
during the stream (tracemalloc): it should stay near one read chunk, whatever the job's size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from scraper.config import Settings
from scraper.jobs.archive import stream_archive
from scraper.jobs.assets import list_assets
from scraper.models import Asset, Base, ScrapeJob, utcnow
from scraper.runtime import Runtime


def job_of(runtime: Runtime, files: int, size: int) -> str:
    job_id, now = str(uuid.uuid4()), utcnow()
    with runtime.Session() as s, s.begin():
        s.add(ScrapeJob(id=job_id, status="completed", query="big", max_content=files,
                        enabled_sources=["selftest"], created_at=now, updated_at=now))  # fmt: skip
        s.flush()
        for n in range(files):
            with runtime.files.partial() as (handle, path):
                handle.write(os.urandom(size))
                handle.close()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                stored = runtime.files.commit(path, digest, "video/mp4", f"clip{n}.mp4")
            s.add(Asset(job_id=job_id, source="selftest", url=f"https://x/{n}", path=stored.path,
                        filename=stored.filename, sha256=stored.sha256,
                        size_bytes=stored.size_bytes, content_type="video/mp4"))  # fmt: skip
    return job_id


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--mib-per-file", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/a.db", data_dir=Path(tmp) / "data")
        runtime = Runtime(settings)
        Base.metadata.create_all(runtime.engine)
        job_id = job_of(runtime, args.files, args.mib_per_file * 1024 * 1024)
        assets, _ = list_assets(runtime.Session, job_id, limit=100_000)
        written = 0
        tracemalloc.start()
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            for piece in stream_archive(runtime.files, {"job_id": job_id}, assets):
                sink.write(piece)
                written += len(piece)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        runtime.close()
    total = args.files * args.mib_per_file
    print(f"archive of {args.files} files, {total} MiB: {written / 2**20:.1f} MiB written in "
          f"{elapsed:.2f} s ({written / 2**20 / elapsed:.0f} MiB/s); "
          f"peak Python allocations {peak / 2**20:.2f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
