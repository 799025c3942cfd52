"""The fallback journal's file format: one checksummed JSON record per line, torn writes repaired.

A record is one JSON object per line with a `crc` field: the CRC-32 of the object's canonical
JSON without it (so each line is still plain JSON). Lines of the older format (no `crc`) are
still read. Before appending, a newline is written when the file does not end in one, so a
record is never glued to the fragment a crash (or a full disk) left behind. A failed append is
cut back off, and the file's torn tail and unreadable lines are moved to
`<journal>.quarantine` at start-up; nothing unreadable is ever deleted.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scraper.errors import JournalUnavailable

log = logging.getLogger(__name__)

PREVIEW = 80


def encode(event: dict[str, Any]) -> bytes:
    """One record, newline included: the event with a `crc` of its own canonical JSON."""
    body = json.dumps(event, sort_keys=True)
    record = dict(event, crc=f"{zlib.crc32(body.encode()):08x}")
    return json.dumps(record, sort_keys=True).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any] | None:
    """The event a line holds, or None when it is torn, corrupt or not an event."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict) or "op" not in event:
        return None
    crc = event.pop("crc", None)  # lines of the older format have none
    if crc is not None and crc != f"{zlib.crc32(json.dumps(event, sort_keys=True).encode()):08x}":
        return None
    return event


@dataclass
class Scan:
    """A journal read: its events in order, and the lines that could not be read."""

    events: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[int, bytes]] = field(default_factory=list)
    torn_tail: bytes = b""


def scan(path: Path) -> Scan:
    """Read every record; a last line without a newline is a torn tail unless it is whole."""
    result = Scan()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return result
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends in a newline
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        event = decode(line)
        if event is None:
            result.bad.append((number, line))
        else:
            result.events.append(event)
    if tail.strip():
        event = decode(tail)
        if event is None:
            result.torn_tail = tail
        else:
            result.events.append(event)
    return result


def append(path: Path, event: dict[str, Any]) -> None:
    """Append one record durably; on failure cut the file back and raise JournalUnavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = encode(event)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            if start and os.pread(fd, 1, start - 1) != b"\n":
                record = b"\n" + record  # never glue a record onto a torn fragment
            _write_all(fd, record)
            os.fsync(fd)
        except OSError as exc:
            _cut_back(fd, start)
            raise JournalUnavailable(str(path), _reason(exc)) from exc
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """Unbuffered, so that nothing is left to flush (and fail again) after an error."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cut_back(fd: int, size: int) -> None:
    """Drop a partial record (a shorter file frees space, so this works on a full disk)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        log.exception("could not cut the journal back to %d bytes", size)


def _reason(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{code}: {text.lower()}" if code else text


def rewrite(path: Path, events: list[dict[str, Any]]) -> None:
    """Replace the journal atomically with exactly these events."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.writelines(encode(event) for event in events)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise JournalUnavailable(str(path), _reason(exc)) from exc


def quarantine_path(path: Path) -> Path:
    return path.with_name(path.name + ".quarantine")


def quarantine(path: Path, lines: list[bytes], why: str) -> None:
    """Append unreadable lines, each with when and why, to the journal's quarantine file."""
    if not lines:
        return
    stamp = datetime.now(UTC).isoformat()
    with open(quarantine_path(path), "ab") as handle:
        for line in lines:
            note = {"at": stamp, "why": why, "line": line.decode("utf-8", "backslashreplace")}
            handle.write(json.dumps(note, sort_keys=True).encode() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def repair(path: Path) -> Scan:
    """At start-up: move unreadable lines and a torn tail to quarantine, keep every good record.

    The caller holds the journal's exclusive lock.
    """
    result = scan(path)
    if not result.bad and not result.torn_tail:
        return result
    if result.torn_tail:
        log.warning(
            "fallback journal %s ends in a torn record (%d bytes, never acknowledged): %r; "
            "truncated to the last good record, the fragment kept in %s",
            path,
            len(result.torn_tail),
            result.torn_tail[:PREVIEW],
            quarantine_path(path).name,
        )
    for number, line in result.bad:
        log.warning(
            "fallback journal %s line %d is unreadable: %r; moved to %s",
            path,
            number,
            line[:PREVIEW],
            quarantine_path(path).name,
        )
    quarantine(path, [line for _, line in result.bad], "unreadable line")
    quarantine(path, [result.torn_tail] if result.torn_tail else [], "torn tail")
    rewrite(path, result.events)
    return result
