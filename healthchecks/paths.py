"""Filesystem facts the checks share, read without writing anything."""

from __future__ import annotations

import os
from pathlib import Path


def creatable(path: Path) -> bool:
    """True when the nearest existing ancestor lets this user create the missing folders."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
