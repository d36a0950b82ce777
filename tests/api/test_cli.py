"""The `bredgio` command line, run as a real process, on a fresh data dir and next to a
running `bredgio up`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fixtures.postgres import free_port

BREDGIO = str(Path(sys.executable).parent / "bredgio")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BREDGIO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    return {**clean, "BREDGIO_DATA_DIR": str(tmp_path / "data")}


def test_user_and_pat_on_a_fresh_data_dir(env: dict[str, str], tmp_path: Path) -> None:
    created = run(
        env, "user", "create", "Ops@Example.com", "--password", "s3cret-pass", "--plan", "pro"
    )
    assert created.returncode == 0, created.stderr
    assert "ops@example.com" in created.stdout
    assert (tmp_path / "data" / "bredgio.db").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600

    minted = run(env, "pat", "create", "ops@example.com", "--name", "ci")
    assert minted.returncode == 0, minted.stderr
    assert re.fullmatch(r"bk_pat_[0-9a-f]{32}", minted.stdout.strip().splitlines()[-1])

    duplicate = run(env, "user", "create", "ops@example.com", "--password", "s3cret-pass")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    short = run(env, "user", "create", "x@example.com", "--password", "short")
    assert short.returncode == 1 and "at least 8" in short.stderr
    unknown = run(env, "pat", "create", "nobody@example.com")
    assert unknown.returncode == 1 and "No user" in unknown.stderr


def test_help_texts(env: dict[str, str]) -> None:
    top = run(env, "--help")
    assert top.returncode == 0
    for command in ("up", "api", "scheduler", "runner", "user", "pat", "migrate"):
        assert command in top.stdout
    assert "--plan" in run(env, "user", "create", "--help").stdout


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [BREDGIO, "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        output.append(line)
        if "Application startup complete" in line or process.poll() is not None:
            break
    text = "".join(output)
    assert "Application startup complete" in text, text
    try:
        yield url, text, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_up_prints_login_once_and_cli_works_while_it_runs(
    env: dict[str, str], server: tuple[str, str, subprocess.Popen[str]]
) -> None:
    url, output, _ = server
    assert url in output
    password = re.search(r"password:\s+(\S+)", output)
    token = re.search(r"API token:\s+(bk_pat_[0-9a-f]{32})", output)
    assert password and token
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    assert httpx.get(f"{url}/api/agents", headers=headers).json() == {"success": True, "agents": []}
    login = httpx.post(
        f"{url}/api/auth/login",
        json={"email": "admin@bredgio.local", "password": password.group(1)},
    )
    assert login.status_code == 200

    # The CLI writes to the same SQLite database while the server is writing too.
    agent = httpx.post(f"{url}/api/agents", headers=headers, json={"name": "a"}).json()["agent"]

    def dispatch(i: int) -> int:
        return httpx.post(
            f"{url}/api/agents/{agent['agentId']}/command",
            headers=headers,
            json={"action": "post", "platform": "facebook", "params": {"content": f"post {i}"}},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = pool.map(dispatch, range(40))
        created = run(env, "user", "create", "second@example.com", "--password", "another-pass")
        minted = run(env, "pat", "create", "second@example.com")
    assert set(statuses) == {200}
    assert created.returncode == 0, created.stderr
    new_token = minted.stdout.strip().splitlines()[-1]
    me = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {new_token}"})
    assert me.json()["user"]["email"] == "second@example.com"
    tasks = httpx.get(f"{url}/api/tasks?limit=200", headers=headers).json()["tasks"]
    assert len(tasks) == 40


def test_second_start_does_not_print_credentials_again(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    assert run(env, "user", "create", "a@example.com", "--password", "password1").returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [BREDGIO, "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for _ in range(200):
            line = process.stdout.readline()
            lines.append(line)
            if "Application startup complete" in line or not line:
                break
        text = "".join(lines)
        assert "Application startup complete" in text
        assert "password:" not in text and "bk_pat_" not in text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_cli_against_postgresql(env: dict[str, str], pg_server: str) -> None:
    import psycopg

    name = f"cli_{os.getpid()}"
    admin = pg_server.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    pg_env = {**env, "BREDGIO_DATABASE_URL": f"{pg_server}/{name}"}
    try:
        assert (
            run(pg_env, "user", "create", "pg@example.com", "--password", "password1").returncode
            == 0
        )
        minted = run(pg_env, "pat", "create", "pg@example.com")
        assert minted.returncode == 0, minted.stderr
        assert minted.stdout.strip().splitlines()[-1].startswith("bk_pat_")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
