"""`ops smoke` is part of the suite: the whole stack from nothing, traced, torn down."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.smoke import free_port

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


def test_a_free_port_is_one_the_kernel_does_not_hand_out_to_others_meanwhile() -> None:
    """Below the ephemeral range: no `bind(0)` and no outgoing connection takes it between
    the answer and the server's own bind (a parallel suite saw 'Address already in use')."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= port < low for port in ports), ports
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free indeed
