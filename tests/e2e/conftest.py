"""A real `bredgio up` (API, embedded Redis, runner process, SQLite) pointed at the
look-alike sites."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.postgres import free_port
from tests.fixtures.sites.fixtures import facebook_site, reset_sites, twitter_site
from tests.fixtures.sites.server import SiteServer

__all__ = ["facebook_site", "reset_sites", "twitter_site"]

BREDGIO = str(Path(sys.executable).parent / "bredgio")


@dataclass
class Bredgio:
    url: str
    token: str
    data_dir: Path
    process: subprocess.Popen[str]

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )


@pytest.fixture(scope="session")
def bredgio(
    tmp_path_factory: pytest.TempPathFactory,
    facebook_site: SiteServer,
    twitter_site: SiteServer,
) -> Iterator[Bredgio]:
    data_dir = tmp_path_factory.mktemp("bredgio-up") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    env.update(
        BREDGIO_DATA_DIR=str(data_dir),
        BREDGIO_FACEBOOK_ORIGIN=facebook_site.origin,
        BREDGIO_TWITTER_ORIGIN=twitter_site.origin,
        BREDGIO_RUNNER_IDLE_CLOSE_S="60",
        # Fault tests: notice a dead runner in seconds, not the production 20 s.
        BREDGIO_RUNNER_HEARTBEAT_S="0.5",
        BREDGIO_TASK_STALE_S="3",
        BREDGIO_RECONCILE_INTERVAL_S="0.5",
        # Runners must start work because they were told (a nudge, a deferred job
        # falling due), never because an idle poll came round.
        BREDGIO_RUNNER_POLL_DELAY_S="30",
    )
    port = free_port()
    log_path = data_dir.parent / "up.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [BREDGIO, "up", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    output = ""
    while time.monotonic() < deadline:
        output = log_path.read_text()
        if "Application startup complete" in output or process.poll() is not None:
            break
        time.sleep(0.2)
    token = re.search(r"API token:\s+(bk_pat_[0-9a-f]{32})", output)
    assert token, output
    server = Bredgio(f"http://127.0.0.1:{port}", token.group(1), data_dir, process)
    try:
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
