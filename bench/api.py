"""Throughput of the API on SQLite next to a bare FastAPI endpoint doing one insert.

Starts `bredgio api` (a fresh data dir, a user, a PAT, an agent) and a bare FastAPI app
(one POST route, one SQLite insert, WAL) as separate uvicorn processes, then drives each
with the same keep-alive HTTP/1.1 load generator, interleaving rounds so that both see the
same machine state. Prints requests per second and the ratios.

    .venv/bin/python bench/api.py [--seconds 5] [--rounds 3] [--connections 16]

Target: POST /api/agents/:id/command reaches at least half of the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BARE_APP = textwrap.dedent(
    """
    import sqlite3, threading, uuid, time, os
    from fastapi import FastAPI, Request

    app = FastAPI()
    local = threading.local()
    PATH = os.environ["BARE_DB"]

    def conn():
        c = getattr(local, "c", None)
        if c is None:
            c = sqlite3.connect(PATH, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=30000")
            local.c = c
        return c

    c = sqlite3.connect(PATH)
    c.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body TEXT, ts REAL)")
    c.commit(); c.close()

    @app.post("/insert")
    def insert(body: dict):
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO t VALUES (?, ?, ?)", (uuid.uuid4().hex, str(body), time.time()))
        c.execute("COMMIT")
        return {"success": True}
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def load(
    port: int,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    seconds: float,
    connections: int,
) -> tuple[int, int]:
    """Keep-alive HTTP/1.1 clients hammering one route; returns (ok, errors)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for name, value in headers.items():
        head += f"{name}: {value}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = head.encode() + b"\r\n" + body
    deadline = time.monotonic() + seconds
    ok = errors = 0

    async def client() -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if b" 200 " in status_line:
                    ok += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return ok, errors


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bredgio-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    # Both servers without an access log (the bare one runs with --no-access-log).
    env.update(
        BREDGIO_DATA_DIR=str(tmp / "data"), BREDGIO_ACCESS_LOG="false", BARE_DB=str(tmp / "bare.db")
    )
    subprocess.run(
        [
            BIN / "bredgio",
            "user",
            "create",
            "bench@example.com",
            "--password",
            "benchmark1",
            "--plan",
            "pro",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    token = (
        subprocess.run(
            [BIN / "bredgio", "pat", "create", "bench@example.com"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    (tmp / "bare_app.py").write_text(BARE_APP)

    api_port, bare_port = free_port(), free_port()
    uvicorn_flags = ["--log-level", "warning", "--no-access-log"]
    processes = [
        start([str(BIN / "bredgio"), "api", "--port", str(api_port)], env, ROOT),
        start(
            [str(BIN / "uvicorn"), "bare_app:app", "--port", str(bare_port), *uvicorn_flags],
            env,
            tmp,
        ),
    ]
    try:
        wait_up(f"http://127.0.0.1:{api_port}/healthz")
        wait_up(f"http://127.0.0.1:{bare_port}/docs")
        auth = {"Authorization": f"Bearer {token}"}
        agent = httpx.post(
            f"http://127.0.0.1:{api_port}/api/agents", headers=auth, json={"name": "bench"}
        ).json()["agent"]["agentId"]
        dispatch_body = json.dumps(
            {"action": "post", "platform": "facebook", "params": {"content": "Hello, world!"}}
        ).encode()
        task = httpx.post(
            f"http://127.0.0.1:{api_port}/api/agents/{agent}/command",
            headers=auth,
            content=dispatch_body,
        ).json()["task"]["taskId"]

        scenarios = {
            "bare FastAPI insert": (
                bare_port,
                "POST",
                "/insert",
                b'{"content": "Hello, world!"}',
                {},
            ),
            "POST /api/agents/:id/command": (
                api_port,
                "POST",
                f"/api/agents/{agent}/command",
                dispatch_body,
                auth,
            ),
            "GET /api/tasks/:id": (api_port, "GET", f"/api/tasks/{task}", b"", auth),
        }
        rates: dict[str, list[float]] = {name: [] for name in scenarios}
        errors: dict[str, int] = dict.fromkeys(scenarios, 0)
        for spec in scenarios.values():  # warm-up
            asyncio.run(load(*spec, seconds=1.0, connections=options.connections))
        for _ in range(options.rounds):
            for name, spec in scenarios.items():
                ok, failed = asyncio.run(
                    load(*spec, seconds=options.seconds, connections=options.connections)
                )
                rates[name].append(ok / options.seconds)
                errors[name] += failed

        print(
            f"{options.rounds} rounds x {options.seconds:.0f} s, "
            f"{options.connections} connections, SQLite, 1 uvicorn worker each"
        )
        medians = {name: statistics.median(values) for name, values in rates.items()}
        for name, value in medians.items():
            print(f"  {name:32s} {value:8.0f} req/s   (errors: {errors[name]})")
        bare = medians["bare FastAPI insert"]
        dispatch_ratio = medians["POST /api/agents/:id/command"] / bare
        read_ratio = medians["GET /api/tasks/:id"] / bare
        print(f"  dispatch / bare = {dispatch_ratio:.2f}   (target >= 0.50)")
        print(f"  task read / bare = {read_ratio:.2f}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
