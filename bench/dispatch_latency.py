"""Latency from `POST /api/agents/:id/command` to the task's first command reaching the
site, on a warm agent (its browser already open).

Runs the X look-alike site in this process (it timestamps every page request), starts a
real `bredgio up` (API, embedded Redis, runner process, SQLite) pointed at it, logs an
agent in with cookies, warms it with one task, then dispatches posts one at a time and
measures dispatch send → the flow's first navigation arriving at the site.

    .venv/bin/python bench/dispatch_latency.py [--tasks 20]

Target: p50 <= 25 ms. Runners start a job when the API announces it (arq's own 0.5 s
polling alone would cost ~245 ms on average; polling every few milliseconds instead
costs a busy fleet's runners CPU, see bench/fleet.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.sites import SiteServer  # noqa: E402
from tests.fixtures.sites.server import login_cookies  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_bredgio(site: SiteServer) -> tuple[subprocess.Popen[str], str, str]:
    data = Path(tempfile.mkdtemp(prefix="bredgio-latency-")) / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    env.update(
        BREDGIO_DATA_DIR=str(data),
        BREDGIO_TWITTER_ORIGIN=site.origin,
    )
    port = free_port()
    log = data.parent / "up.log"
    process = subprocess.Popen(
        [str(BIN / "bredgio"), "up", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = log.read_text()
        if "Application startup complete" in text:
            token = re.search(r"API token:\s+(bk_pat_[0-9a-f]{32})", text)
            assert token
            return process, f"http://127.0.0.1:{port}", token.group(1)
        time.sleep(0.2)
    raise RuntimeError(f"bredgio up did not start:\n{log.read_text()}")


def wait_done(client: httpx.Client, task_id: str) -> dict:  # type: ignore[type-arg]
    while True:
        task = client.get(f"/api/tasks/{task_id}").json()["task"]
        if task["status"] in ("completed", "failed", "cancelled"):
            return dict(task)
        time.sleep(0.05)


def measure(site: SiteServer, tasks: int) -> list[float]:
    process, url, token = start_bredgio(site)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    try:
        agent = client.post("/api/agents", json={"name": "latency", "platforms": ["twitter"]})
        agent_id = agent.json()["agent"]["agentId"]
        # Posts back to back: no pacing between them (postDelaySec is 60 s by default).
        client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0}})
        cookies = [
            {"name": c["name"], "value": c["value"], "domain": "127.0.0.1", "path": "/"}
            for c in login_cookies("twitter", site.origin)
        ]
        client.post(f"/api/agents/{agent_id}/cookies", json={"cookies": cookies})

        def dispatch(n: int) -> tuple[float, str]:
            content = f"{n} {time.time()}"
            body = {"action": "post", "platform": "twitter", "params": {"content": content}}
            sent = time.time()
            response = client.post(f"/api/agents/{agent_id}/command", json=body)
            return sent, response.json()["task"]["taskId"]

        for n in range(2):  # warm: open the browser, load the page once
            wait_done(client, dispatch(n)[1])
        latencies = []
        for n in range(tasks):
            sent, task_id = dispatch(100 + n)
            task = wait_done(client, task_id)
            arrivals = [
                ts for ts, _, path in site.requests if ts >= sent and path != "/favicon.ico"
            ]
            if task["status"] != "completed" or not arrivals:
                raise RuntimeError(f"task did not post: {task}")
            latencies.append((min(arrivals) - sent) * 1000)
        return latencies
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


def report(label: str, values: list[float]) -> float:
    values = sorted(values)
    p50 = statistics.median(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    print(f"  {label:38s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (n={len(values)})")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    options = parser.parse_args()
    with SiteServer("twitter") as site:
        print("dispatch → first command at the site, warm agent, SQLite, embedded Redis")
        p50 = report("default settings", measure(site, options.tasks))
        print(f"  target p50 <= 25 ms: {'met' if p50 <= 25 else 'NOT met'}")


if __name__ == "__main__":
    main()
