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


def read_only_mount(path: Path) -> Path | None:
    """The mount point of `path`'s filesystem when it is mounted read-only, else None."""
    try:
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            return None
        device = path.stat().st_dev
    except OSError:
        return None
    mount = path.absolute()
    while mount != mount.parent and mount.parent.stat().st_dev == device:
        mount = mount.parent
    return mount


def ownership(path: Path) -> str:
    """`owner root, group root, mode 0755` (ids when the names are unknown)."""
    import grp
    import pwd

    info = path.stat()
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"owner {owner}, group {group}, mode {info.st_mode & 0o7777:04o}"
