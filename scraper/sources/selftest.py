"""`selftest`: deterministic PNG files made in process, so a trace needs no network."""

from __future__ import annotations

import hashlib
import struct
import zlib

from scraper.sources.base import MediaItem, Source

SIZE = 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


# Each row's bytes are the digest from the row's offset on (wrapping), XORed with this mask.
_WIDTH = SIZE * 3
_MASK = int.from_bytes(bytes(x * 16 & 0xFF for x in range(_WIDTH)))


def make_png(seed: str) -> bytes:
    """A 16x16 RGB PNG whose colours derive from `seed`: same seed, same bytes.

    Pixel byte x of row y is `digest[(x + y) % 32] ^ (x * 16 & 0xFF)`, XORed a row at a time
    as one integer: a byte at a time it was most of a no-op job's CPU in the worker."""
    digest = hashlib.sha256(seed.encode()).digest()
    wrapped = digest * (2 + _WIDTH // len(digest))
    rows = b"".join(
        b"\x00" + (int.from_bytes(wrapped[y : y + _WIDTH]) ^ _MASK).to_bytes(_WIDTH)
        for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


class SelftestSource(Source):
    name = "selftest"
    description = "Deterministic test images generated in process (no network)."

    def search(self, query: str, limit: int, safe_search: bool) -> list[MediaItem]:
        return [
            MediaItem(
                url=f"selftest://{i}.png",
                title=f"{query} #{i}",
                license="CC0-1.0",
                mime="image/png",
                content=make_png(f"{query}/{i}"),
                item_id=f"{query}/{i}",
            )
            for i in range(1, limit + 1)
        ]
