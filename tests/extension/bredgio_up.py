"""A real ``bredgio up`` (API with the hub, embedded Redis, a runner, SQLite) as a
subprocess that a test can restart on the same port and data directory."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.postgres import free_port

BREDGIO = str(Path(sys.executable).parent / "bredgio")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 40.0
TERMINAL = {"completed", "failed", "cancelled"}


class BredgioUp:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
        self.env.update(env, BREDGIO_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        self.log_path = data_dir.parent / "up.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.password = ""

    def start(self) -> float:
        """Start and wait until the API serves; returns that moment (time.monotonic)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [BREDGIO, "up", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        output = ""
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                output = log.read().decode("utf-8", "replace")
            if "Uvicorn running on" in output:
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"bredgio up exited:\n{output}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"bredgio up did not start:\n{output}")
        ready_at = time.monotonic()
        token = re.search(r"API token:\s+(bk_pat_[0-9a-f]{32})", output)
        password = re.search(r"password:\s+(\S+)", output)
        if token and password:
            self.token, self.password = token.group(1), password.group(1)
        return ready_at

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> float:
        self.stop()
        return self.start()

    # -- the API -----------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    async def new_agent(self, *platforms: str) -> tuple[str, str]:
        """An agent with the extension executor and no pause between posts; returns its
        id and token."""
        async with self.client() as client:
            response = await client.post(
                "/api/agents",
                json={
                    "name": "Extension seat",
                    "platforms": list(platforms),
                    "executor": "extension",
                    "config": {"postDelaySec": 0},
                },
            )
        assert response.status_code == 200, response.text
        agent = response.json()["agent"]
        return str(agent["agentId"]), str(agent["token"])

    async def agent(self, agent_id: str) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.get(f"/api/agents/{agent_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["agent"])

    async def upload(self, data: bytes, name: str) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.post(
                "/api/media/upload", files={"file": (name, data, "image/png")}
            )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def post(
        self, agent_id: str, platform: str, content: str, media: list[dict[str, Any]] | None = None
    ) -> str:
        """Dispatch a post; returns the task id."""
        params: dict[str, Any] = {"content": content}
        if media:
            params["media"] = [{"url": m["url"], "type": m["type"]} for m in media]
        async with self.client() as client:
            response = await client.post(
                f"/api/agents/{agent_id}/command",
                json={"action": "post", "platform": platform, "params": params},
            )
        assert response.status_code == 200, response.text
        return str(response.json()["task"]["taskId"])

    async def wait_task(self, task_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        async with self.client() as client:
            while True:
                response = await client.get(f"/api/tasks/{task_id}")
                task: dict[str, Any] = response.json()["task"]
                if task["status"] in TERMINAL or time.monotonic() > deadline:
                    return task
                await asyncio.sleep(0.1)

    async def rotate_token(self, agent_id: str) -> str:
        async with self.client() as client:
            response = await client.post(
                f"/api/agents/{agent_id}/token", json={"password": self.password}
            )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])
