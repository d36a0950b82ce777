"""Scale-out fixtures: real, separate processes the way production runs them — PostgreSQL,
a Debian ``redis-server``, one ``bredgio api`` and any number of ``bredgio runner``
processes sharing a data dir — pointed at the X look-alike site.

The cluster (database, Redis, API, user and PAT) is started once for the folder; each
test gets a :class:`Fleet` whose runners it starts, kills or stops, and which stops
whatever runner is left (and any Chromium left on the fleet's profiles) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import redis

from profiles.processes import pid_alive, processes_for_profile, processes_under, read_cmdline
from tests.fixtures.postgres import free_port
from tests.fixtures.sites.fixtures import twitter_site
from tests.fixtures.sites.server import SiteServer

__all__ = ["twitter_site"]

BREDGIO = str(Path(sys.executable).parent / "bredgio")
REDIS_SERVER = "/usr/bin/redis-server"
SECRET = "fleet-secret-key-0123456789abcdef"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
T = TypeVar("T")

# Fault tests notice a dead runner in seconds, not the production 20 s.
FAST_RECOVERY = {
    "BREDGIO_RUNNER_HEARTBEAT_S": "0.5",
    "BREDGIO_TASK_STALE_S": "3",
    "BREDGIO_RECONCILE_INTERVAL_S": "0.5",
}


def wait_until(
    predicate: Callable[[], T | None],
    timeout_s: float = 30,
    what: str = "condition",
    every_s: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def parent_pid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def ancestor_in(pid: int, candidates: set[int]) -> int | None:
    """The first of ``candidates`` among ``pid``'s ancestors (``pid`` included)."""
    seen = 0
    current: int | None = pid
    while current and current > 1 and seen < 64:
        if current in candidates:
            return current
        current = parent_pid(current)
        seen += 1
    return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and parent_pid(int(entry.name)) == pid:
            found.append(int(entry.name))
    return found


def _stop(process: subprocess.Popen[bytes], sig: int | None, timeout_s: float) -> None:
    """Send ``sig`` (if any), wait up to ``timeout_s``, then SIGKILL."""
    if sig is not None and process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """A Debian ``redis-server`` on a loopback port, without persistence: a restart
    starts it empty, like a Redis that lost its memory."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.running
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_until(lambda: self._pings(client), 15, "redis-server to answer PING")
        finally:
            client.close()

    def _pings(self, client: redis.Redis) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited:\n{_tail(self.log_path)}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        """SIGKILL: everything in it is gone."""
        assert self.process is not None
        _stop(self.process, signal.SIGKILL, 10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGTERM, 10)


@dataclass
class Runner:
    """One ``bredgio runner`` process."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    """What the folder shares: the database, Redis, the API and a user's PAT."""

    data_dir: Path
    logs_dir: Path
    env: dict[str, str]
    redis: RedisServer
    api_url: str
    api: subprocess.Popen[bytes]
    token: str
    site: SiteServer
    database_url: str


class ProfileWatcher:
    """Samples ``/proc`` in a thread: which runners' Chromium processes run on a profile.

    Each Chromium process is attributed to the runner it descends from; a sample in
    which processes of two runners run on the profile at once is a violation.
    """

    def __init__(self, profile: Path, runners: list[Runner], every_s: float = 0.02) -> None:
        self.profile = profile
        self.pids = {runner.pid: runner.name for runner in runners}
        self.every_s = every_s
        self.samples = 0
        self.holders: list[str] = []
        """Each runner that held the profile, in order (consecutive repeats dropped)."""
        self.violations: list[dict[str, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="profile-watcher", daemon=True)

    def __enter__(self) -> ProfileWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def sample(self) -> dict[str, list[int]]:
        by_runner: dict[str, list[int]] = {}
        for proc in processes_for_profile(self.profile):
            owner = ancestor_in(proc.pid, set(self.pids))
            if owner is None and not pid_alive(proc.pid):
                continue  # exited while we looked
            name = self.pids[owner] if owner is not None else "orphan"
            by_runner.setdefault(name, []).append(proc.pid)
        return by_runner

    def _loop(self) -> None:
        while not self._stop.is_set():
            by_runner = self.sample()
            self.samples += 1
            if len(by_runner) > 1:
                self.violations.append(by_runner)
            for name in by_runner:
                if not self.holders or self.holders[-1] != name:
                    self.holders.append(name)
            self._stop.wait(self.every_s)


@dataclass
class Fleet:
    """One test's view of the cluster: runners to start and stop, API helpers."""

    cluster: Cluster
    runners: list[Runner] = field(default_factory=list)
    _client: httpx.Client | None = None

    # -- processes --------------------------------------------------------------------

    @property
    def site(self) -> SiteServer:
        return self.cluster.site

    @property
    def redis(self) -> RedisServer:
        return self.cluster.redis

    def start_runners(self, count: int, **env: str) -> list[Runner]:
        """Start ``count`` runners at once, with ``env`` on top of the cluster's
        environment; return when each has started Playwright."""
        started = [self._spawn_runner(env) for _ in range(count)]
        for runner in started:
            wait_until(partial(self._ready, runner), 60, f"{runner.name} to start")
        return started

    def _spawn_runner(self, env: dict[str, str]) -> Runner:
        name = f"runner-{len(self.runners) + 1}"
        log_path = self.cluster.logs_dir / f"{uuid.uuid4().hex[:6]}-{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [BREDGIO, "runner"],
                env={**self.cluster.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        runner = Runner(name, process, log_path)
        self.runners.append(runner)
        return runner

    def _ready(self, runner: Runner) -> bool:
        if not runner.alive:
            raise AssertionError(f"{runner.name} exited:\n{_tail(runner.log_path)}")
        if "Starting worker" not in runner.log():
            return False
        # on_startup has begun Playwright: its driver is the runner's child.
        return any("run-driver" in read_cmdline(pid) for pid in children_of(runner.pid))

    @contextlib.contextmanager
    def paused(self, runner: Runner) -> Iterator[None]:
        """SIGSTOP the runner for the block: it neither polls nor reconciles."""
        runner.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            runner.process.send_signal(signal.SIGCONT)

    def kill(self, runner: Runner) -> None:
        """SIGKILL the runner: no shutdown code runs; the runner that next launches the
        agent's browser kills whatever Chromium it left on the profile."""
        _stop(runner.process, signal.SIGKILL, 10)

    def terminate(self, runner: Runner, timeout_s: float = 30) -> int:
        """SIGTERM the runner and wait for it to exit; return its exit code."""
        runner.process.send_signal(signal.SIGTERM)
        return runner.process.wait(timeout=timeout_s)

    def orphaned_chromium(self) -> list[int]:
        """Chromium processes on the fleet's profiles that no live runner owns."""
        live = {runner.pid for runner in self.runners if runner.alive}
        return [
            proc.pid
            for proc in processes_under(self.cluster.data_dir / "profiles")
            if ancestor_in(proc.pid, live) is None and pid_alive(proc.pid)
        ]

    def profile_dir(self, agent_id: str) -> Path:
        return self.cluster.data_dir / "profiles" / agent_id

    def watch_profile(self, agent_id: str) -> ProfileWatcher:
        return ProfileWatcher(self.profile_dir(agent_id), list(self.runners))

    def close(self) -> None:
        for runner in self.runners:
            if runner.alive:
                runner.process.send_signal(signal.SIGCONT)
                runner.process.send_signal(signal.SIGTERM)
        for runner in self.runners:
            _stop(runner.process, None, 30)
        # Chromium of killed runners: ours (under this fleet's profiles), nobody else's.
        for proc in processes_under(self.cluster.data_dir / "profiles"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        if self._client is not None:
            self._client.close()

    # -- the API ----------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.cluster.api_url,
                headers={"Authorization": f"Bearer {self.cluster.token}"},
                timeout=60,
            )
        return self._client

    def new_agent(self, name: str = "fleet") -> str:
        """A logged-in X agent with no pause between posts (needs a runner up: cookies
        are imported by a runner)."""
        response = self.client.post("/api/agents", json={"name": name, "platforms": ["twitter"]})
        assert response.status_code == 200, response.text
        agent_id = str(response.json()["agent"]["agentId"])
        cookies = [
            {"name": c["name"], "value": c["value"], "domain": "127.0.0.1", "path": "/"}
            for c in self.site.login_cookies()
        ]
        imported = self.client.post(f"/api/agents/{agent_id}/cookies", json={"cookies": cookies})
        assert imported.status_code == 200 and imported.json()["imported"] == 2, imported.text
        patched = self.client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0}})
        assert patched.status_code == 200, patched.text
        return agent_id

    def new_agents(self, count: int) -> list[str]:
        """``count`` agents made at once (each cookie import launches a browser)."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda n: self.new_agent(f"fleet {n}"), range(count)))

    def upload_image(self, png: bytes) -> dict[str, Any]:
        response = self.client.post(
            "/api/media/upload", files={"file": ("fleet.png", png, "image/png")}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, agent_id: str, content: str, image: dict[str, Any] | None = None) -> str:
        params: dict[str, Any] = {"content": content}
        if image is not None:
            params["media"] = [{"url": image["url"], "type": "image/png"}]
        response = self.client.post(
            f"/api/agents/{agent_id}/command",
            json={"action": "post", "platform": "twitter", "params": params},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["task"]["taskId"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["task"])

    def wait_for_step(self, task_id: str, *steps: str, timeout_s: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            task = self.task(task_id)
            return task if task["currentStep"] in steps else None

        return wait_until(reached, timeout_s, f"task {task_id} to reach {steps}")

    def wait_for_tasks(self, task_ids: list[str], timeout_s: float = 90) -> list[dict[str, Any]]:
        """Every task once it ended, in the order given."""
        done: dict[str, dict[str, Any]] = {}

        def all_ended() -> bool:
            for task_id in task_ids:
                if task_id not in done:
                    task = self.task(task_id)
                    if task["status"] not in TERMINAL:
                        return False
                    done[task_id] = task
            return True

        try:
            wait_until(all_ended, timeout_s, "every task to end", every_s=0.1)
        except AssertionError:
            pending = {t: self.task(t)["status"] for t in task_ids if t not in done}
            raise AssertionError(f"tasks did not end: {pending}") from None
        return [done[task_id] for task_id in task_ids]

    def wait_claimed(self, task_id: str, timeout_s: float = 30) -> Runner:
        """The runner that claims the task, once one has."""
        wait_until(lambda: self.runner_ids([task_id])[task_id], timeout_s, f"{task_id} claimed")
        return self.runner_of(task_id)

    def runner_of(self, task_id: str) -> Runner:
        """The runner process that holds the task now."""
        runner_id = self.runner_ids([task_id])[task_id]
        assert runner_id, f"task {task_id} has no runner"
        pid = int(runner_id.split(":")[1])
        (runner,) = [r for r in self.runners if r.pid == pid]
        return runner

    def runner_ids(self, task_ids: list[str]) -> dict[str, str | None]:
        """Which runner (its ``host:pid:nonce``) last claimed each task, from the database."""
        url = self.cluster.database_url.replace("+psycopg", "")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT id, runner_id FROM tasks WHERE id = ANY(%s)", (task_ids,)
            ).fetchall()
        return {str(task_id): runner_id for task_id, runner_id in rows}


def _create_database(pg_server: str) -> tuple[str, str]:
    name = f"fleet_{uuid.uuid4().hex[:10]}"
    admin = pg_server.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name, f"{pg_server}/{name}"


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [BREDGIO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def fleet_cluster(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory, twitter_site: SiteServer
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("fleet")
    data_dir, logs_dir = root / "data", root / "logs"
    logs_dir.mkdir()
    name, database_url = _create_database(pg_server)
    redis_server = RedisServer(free_port(), logs_dir / "redis.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    env.update(
        FAST_RECOVERY,
        PYTHONUNBUFFERED="1",
        BREDGIO_DATA_DIR=str(data_dir),
        BREDGIO_DATABASE_URL=database_url,
        BREDGIO_REDIS_URL=redis_server.url,
        BREDGIO_SECRET_KEY=SECRET,
        BREDGIO_TWITTER_ORIGIN=twitter_site.origin,
        # Two cores: traces would only slow every task down.
        BREDGIO_RUNNER_TRACE="false",
    )
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    api_log = logs_dir / "api.log"
    api: subprocess.Popen[bytes] | None = None

    def api_up() -> bool:
        assert api is not None
        if api.poll() is not None:
            raise AssertionError(f"bredgio api exited:\n{_tail(api_log)}")
        try:
            return httpx.get(f"{api_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        redis_server.start()
        # The API migrates the fresh database while the CLI makes the user and the PAT
        # (migrations are serialised by an advisory lock).
        with api_log.open("wb") as log:
            api = subprocess.Popen(
                [BREDGIO, "api", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        email = "fleet@example.com"
        _cli(env, "user", "create", email, "--password", "fleet password", "--plan", "team")
        token = _cli(env, "pat", "create", email).strip().splitlines()[-1]
        assert token.startswith("bk_pat_"), token
        wait_until(api_up, 60, "bredgio api to answer")
        yield Cluster(
            data_dir, logs_dir, env, redis_server, api_url, api, token, twitter_site, database_url
        )
    finally:
        if api is not None:
            _stop(api, signal.SIGINT, 30)
        redis_server.stop()
        admin = pg_server.replace("+psycopg", "") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def fleet(fleet_cluster: Cluster) -> Iterator[Fleet]:
    """The cluster with no runner yet and the site reset; runners are stopped after."""
    fleet_cluster.site.reset()
    if not fleet_cluster.redis.running:
        fleet_cluster.redis.start()
    fleet = Fleet(fleet_cluster)
    try:
        yield fleet
    finally:
        fleet.close()
        # Shown by pytest only when the test failed.
        for runner in fleet.runners:
            print(f"==== {runner.name} (pid {runner.pid}) ====\n{_tail(runner.log_path, 80)}")
        api_log = _tail(fleet_cluster.logs_dir / "api.log", 400).splitlines()
        quiet = [line for line in api_log if "GET /api/tasks/" not in line]
        print("==== api ====\n" + "\n".join(quiet[-40:]))
