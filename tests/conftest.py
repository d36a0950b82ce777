"""Shared fixtures: a database per test on SQLite AND PostgreSQL, the app, users."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api import security
from api.app import create_app
from api.config import Settings
from api.context import AppContext
from api.db.engine import make_engine
from api.db.migrate import upgrade
from tests.fixtures.postgres import postgres_cluster
from tests.helpers import Account, make_account

BACKENDS = ("sqlite", "postgresql")

# Cheap argon2 parameters for the many accounts tests create; hashes stay real argon2id.
security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TEST_SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One PostgreSQL cluster for the whole session (fresh database per test)."""
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    admin = pg_server.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bredgio_template")
    engine = make_engine(Settings(database_url=f"{pg_server}/bredgio_template"))
    upgrade(engine)
    engine.dispose()
    return "bredgio_template"


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A freshly migrated, empty database: a copy of a template on either backend."""
    if request.param == "sqlite":
        path = tmp_path / "bredgio.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server: str = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = server.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield f"{server}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET,
        redis_url="redis://127.0.0.1:1/0",
    )


@pytest.fixture
def context(settings: Settings) -> Iterator[AppContext]:
    ctx = AppContext.create(settings, migrate=True)
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def client(context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(context), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def alice(context: AppContext) -> Account:
    return make_account(context, "alice@example.com")


@pytest.fixture
def bob(context: AppContext) -> Account:
    return make_account(context, "bob@example.com")


@pytest.fixture
def agent_id(client: TestClient, alice: Account) -> str:
    response = client.post(
        "/api/agents",
        headers=alice.headers,
        json={"name": "Seat 1", "platforms": ["facebook", "twitter"]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["agent"]["agentId"])
