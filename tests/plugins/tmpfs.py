"""A tmpfs mounted over a folder for a test (a small disk, a read-only one); needs root."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import missing_service


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: int, *options: str) -> Iterator[Path]:
    """`path` on a tmpfs of `size` bytes (`options` such as "ro"); always unmounted after."""
    flags = ",".join((f"size={size}", *options))
    mount = ["mount", "-t", "tmpfs", "-o", flags, "tmpfs", str(path)]
    done = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        missing_service(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
