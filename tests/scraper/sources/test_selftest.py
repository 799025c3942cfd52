"""The selftest source's images: the same bytes for the same seed, release after release (a
stored file's content address is its sha256, so a job's files match earlier runs')."""

from __future__ import annotations

import hashlib
import struct
import zlib

from scraper.sources.selftest import SIZE, make_png


def test_an_image_is_the_same_bytes_as_ever() -> None:
    digest = hashlib.sha256(make_png("noop 1/1")).hexdigest()
    assert digest == "fe7bf52401ff67595617f4a3c61fada5a6b98dcbb85ffcbe404d7656e8f18a78"


def test_each_pixel_byte_derives_from_the_seed_as_documented() -> None:
    png = make_png("a seed")
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    rows = zlib.decompress(png[41 : 41 + length])
    seed = hashlib.sha256(b"a seed").digest()
    width = SIZE * 3 + 1
    for y in range(SIZE):
        row = rows[y * width : (y + 1) * width]
        assert row[0] == 0
        assert list(row[1:]) == [seed[(x + y) % 32] ^ (x * 16 & 0xFF) for x in range(SIZE * 3)]
