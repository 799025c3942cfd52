"""`ops smoke` is part of the suite: the whole stack from nothing, traced, torn down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_ops_smoke_passes_every_hop_against_a_real_server() -> None:
    ops = str(Path(sys.executable).with_name("ops"))
    done = subprocess.run(
        [ops, "smoke", "--json", "--timeout", "60"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "pass"
    assert [step["name"] for step in report["steps"]] == ["init-db", "serve"]
    assert report["trace"]["target"].startswith("http://127.0.0.1:")
    assert len(report["trace"]["hops"]) == 8
    assert all(hop["status"] == "pass" for hop in report["trace"]["hops"])
