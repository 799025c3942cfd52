"""Exactly once across hosts: two network-namespace "hosts", two firers each, race for the
same ticks against one PostgreSQL on the bridge; each tick creates one job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from scraper.config import Settings
from scraper.migrations.manage import init_db
from scraper.runtime import Runtime
from tests.plugins.netns import Lab
from tests.plugins.pgcluster import postgres_cluster
from tests.plugins.processes import scraper_env
from tests.scraper.schedules.helpers import hourly, jobs_of, owner

PER_HOST, ROUNDS = 2, 6
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.postgres
def test_two_hosts_racing_for_the_same_ticks_create_one_job_per_tick(
    netns_lab: Lab, tmp_path: Path
) -> None:
    hosts = [netns_lab.host("h1"), netns_lab.host("h2")]
    with postgres_cluster(f"127.0.0.1,{netns_lab.gateway}", netns_lab.network) as pg:
        runtime = Runtime(Settings(database_url=pg.url, data_dir=tmp_path / "data"))
        racers: list[subprocess.Popen[bytes]] = []
        try:
            init_db(runtime.engine)
            sid = hourly(runtime.Session, owner(runtime.Session))
            url = pg.url.replace("127.0.0.1", netns_lab.gateway)
            start = time.time() + 8
            for host in hosts:
                env = scraper_env(url, tmp_path, RACER_HOST=host.name)
                racer = [sys.executable, "-m", "tests.scraper.schedules.racer"]
                command = ["ip", "netns", "exec", host.namespace, *racer, str(sid), str(start),
                           str(ROUNDS)]  # fmt: skip
                racers += [
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                    )  # fmt: skip
                    for _ in range(PER_HOST)
                ]
            outputs = [racer.communicate(timeout=120) for racer in racers]
            assert all(r.returncode == 0 for r in racers), [e.decode()[-2000:] for _, e in outputs]
            lines = [json.loads(line) for out, _ in outputs for line in out.decode().splitlines()]
            assert {line["host"] for line in lines} == {"h1", "h2"}
            fired = Counter(line["round"] for line in lines if line["result"] == "fired")
            assert fired == {n: 1 for n in range(ROUNDS)}, lines
            assert len(jobs_of(runtime.Session, sid)) == ROUNDS
            winners = Counter(line["host"] for line in lines if line["result"] == "fired")
            results = Counter(line["result"] for line in lines)
            print(f"two hosts over {ROUNDS} ticks: {dict(results)}; won by {dict(winners)}")
        finally:
            for racer in racers:
                if racer.poll() is None:
                    racer.kill()
                    racer.wait(timeout=10)
            netns_lab.destroy()
            runtime.close()
