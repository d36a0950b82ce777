"""The Docker files agree with the code they package, checked without a Docker engine:
compose services run real `bredgio` commands with real settings, the runner reaps zombies
and scales, volumes are declared and shared where the data lives, and every file an
image copies exists in the repository and in the build context."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from api.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILES = {"api": DOCKER / "api.Dockerfile", "runner": DOCKER / "runner.Dockerfile"}
BREDGIO = str(Path(sys.executable).parent / "bredgio")
BREDGIO_SERVICES = ("api", "scheduler", "runner")
PREFIX = "BREDGIO_"
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


# -- reading the files -------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        current = variables.get(name, "")
        if operator in (":-", "-") and not current:
            return argument or ""
        if operator in (":?", "?") and not current:
            raise AssertionError(f"compose would refuse to start: {argument}")
        return current

    return _VARIABLE.sub(replace, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(name): str(value) for name, value in env.items()}


@dataclass
class Dockerfile:
    path: Path
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        parsed = cls(path)
        logical = ""
        for raw in path.read_text().splitlines():
            stripped = raw.strip()
            if not logical and (not stripped or stripped.startswith("#")):
                continue
            if stripped.startswith("#"):
                continue  # a comment inside a continued instruction
            if stripped.endswith("\\"):
                logical += stripped[:-1] + " "
                continue
            logical += stripped
            keyword, _, arguments = logical.partition(" ")
            parsed.instructions.append((keyword.upper(), arguments.strip()))
            logical = ""
        assert not logical, f"{path.name} ends inside a continued line"
        return parsed

    def all(self, keyword: str) -> list[str]:
        return [arguments for word, arguments in self.instructions if word == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"{self.path.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values = {}
        for arguments in self.all("ENV"):
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                values[name] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        value = json.loads(self.last(keyword))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), value
        return value

    def copied_sources(self) -> list[str]:
        sources = []
        for arguments in self.all("COPY"):
            words = [w for w in shlex.split(arguments) if not w.startswith("--")]
            sources += words[:-1]
        return sources


def is_setting(name: str) -> bool:
    """Whether ``BREDGIO_<NAME>`` is a field of ``Settings`` (``__`` reaches into a
    nested group, as ``env_nested_delimiter`` does)."""
    if not name.startswith(PREFIX):
        return False
    model: type[BaseModel] = Settings
    parts = name.removeprefix(PREFIX).lower().split("__")
    for depth, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            return False
        if depth < len(parts) - 1:
            nested = info.annotation
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                return False
            model = nested
    return True


def bredgio_names() -> dict[str, set[str]]:
    """Every ``BREDGIO_*`` variable the Docker files set, by where it is set."""
    found: dict[str, set[str]] = {}
    for name, service in services().items():
        for variable in environment(service):
            if variable.startswith(PREFIX):
                found.setdefault(variable, set()).add(f"compose service {name}")
    for variable in env_example():
        if variable.startswith(PREFIX):
            found.setdefault(variable, set()).add(".env.example")
    for image, path in DOCKERFILES.items():
        for variable in Dockerfile.parse(path).env():
            if variable.startswith(PREFIX):
                found.setdefault(variable, set()).add(f"{image} image")
    return found


# -- commands ----------------------------------------------------------------------------


def commands() -> list[tuple[str, list[str]]]:
    found = [(f"service {name}", services()[name]["command"]) for name in BREDGIO_SERVICES]
    for image, path in DOCKERFILES.items():
        found.append((f"{image} image CMD", Dockerfile.parse(path).exec_form("CMD")))
    return found


@pytest.mark.parametrize(("where", "command"), commands(), ids=[w for w, _ in commands()])
def test_every_command_is_a_real_bredgio_subcommand(
    where: str, command: list[str], tmp_path: Path
) -> None:
    assert command[0] == "bredgio", f"{where} does not run bredgio: {command}"
    subcommand = command[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env[f"{PREFIX}DATA_DIR"] = str(tmp_path / "data")
    shown = subprocess.run(
        [BREDGIO, subcommand, "--help"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, f"{where}: `bredgio {subcommand}` failed: {shown.stderr}"
    assert f"Usage: bredgio {subcommand}" in shown.stdout
    for option in (word for word in command[2:] if word.startswith("--")):
        assert option in shown.stdout, f"{where}: `bredgio {subcommand}` has no {option}"


# -- compose -----------------------------------------------------------------------------


def test_compose_runs_the_production_shape() -> None:
    assert set(services()) == {"postgres", "redis", "api", "scheduler", "runner"}
    postgres, redis = services()["postgres"], services()["redis"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert redis["image"].startswith("redis:7")
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_environment_names_are_settings() -> None:
    unknown = {
        name: sorted(where) for name, where in bredgio_names().items() if not is_setting(name)
    }
    assert not unknown, f"not fields of api.config.Settings: {unknown}"


@pytest.mark.parametrize("name", BREDGIO_SERVICES)
def test_service_environment_loads_as_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {**env_example(), "POSTGRES_PASSWORD": "pw", "BREDGIO_SECRET_KEY": "s" * 64}
    for variable in list(os.environ):
        if variable.startswith(PREFIX):
            monkeypatch.delenv(variable)
    for variable, value in environment(services()[name]).items():
        monkeypatch.setenv(variable, interpolate(value, variables))
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://bredgio:pw@postgres:5432/bredgio"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.secret_key == "s" * 64
    assert settings.public_url == "http://localhost:8000"
    if name == "api":
        # The scheduler service fires schedules; the API must not do it too.
        assert settings.scheduler_in_api is False


def test_required_secrets_are_refused_when_empty() -> None:
    service = services()["api"]
    with pytest.raises(AssertionError, match="BREDGIO_SECRET_KEY"):
        interpolate(environment(service)["BREDGIO_SECRET_KEY"], {})
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        interpolate(environment(service)["BREDGIO_DATABASE_URL"], {})


def test_env_example_names_every_compose_variable_and_holds_no_secret() -> None:
    used = set(_VARIABLE.findall(COMPOSE.read_text()))
    example = env_example()
    missing = sorted({name for name, _, _ in used} - set(example))
    assert not missing, f"docker/.env.example lacks {missing}"
    assert example["POSTGRES_PASSWORD"] == "" and example["BREDGIO_SECRET_KEY"] == ""


def test_runner_scales_and_reaps_zombies() -> None:
    runner = services()["runner"]
    assert "container_name" not in runner, "a fixed name prevents --scale runner=N"
    assert "ports" not in runner
    assert runner["init"] is True
    assert isinstance(runner["deploy"]["replicas"], int)
    assert runner["shm_size"] in ("1gb", "1g", "1024m")
    entrypoint = Dockerfile.parse(DOCKERFILES["runner"]).exec_form("ENTRYPOINT")
    assert Path(entrypoint[0]).name == "tini" and entrypoint[-1] == "--"


def test_services_wait_for_healthy_stores_and_api_has_a_healthcheck() -> None:
    for name in BREDGIO_SERVICES:
        depends = services()[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    api = services()["api"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert any(str(port).endswith(":8000") for port in api["ports"])


def test_named_volumes_are_declared_and_data_is_shared_at_the_data_dir() -> None:
    declared = set(compose()["volumes"])
    for name, service in services().items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"service {name} mounts undeclared volume {source}"
    data_dirs = {environment(services()[name])["BREDGIO_DATA_DIR"] for name in BREDGIO_SERVICES}
    data_dirs |= {Dockerfile.parse(path).env()["BREDGIO_DATA_DIR"] for path in DOCKERFILES.values()}
    assert len(data_dirs) == 1, f"BREDGIO_DATA_DIR differs between services: {data_dirs}"
    (data_dir,) = data_dirs
    for name in BREDGIO_SERVICES:
        assert f"data:{data_dir}" in services()[name]["volumes"], name


# -- Dockerfiles -------------------------------------------------------------------------


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str) -> bool:
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.strip("/"))
        for pattern in dockerignore()
        for prefix in prefixes
    )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_copies_files_that_exist_in_the_build_context(image: str) -> None:
    dockerfile = Dockerfile.parse(DOCKERFILES[image])
    assert dockerfile.last("FROM") == "python:3.11-slim-bookworm"
    sources = dockerfile.copied_sources()
    assert {"requirements.lock", "pyproject.toml", "api", "runner"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"{image}: COPY {source}: no such file in the repo"
        assert not ignored(source), f"{image}: COPY {source} is excluded by .dockerignore"
    run = " ".join(dockerfile.all("RUN"))
    assert "pip install -r requirements.lock" in run and "pip install --no-deps ." in run
    # pyproject.toml names README.md as the readme: building the package needs it.
    assert "README.md" in sources


def test_build_sections_point_at_the_dockerfiles() -> None:
    for name in BREDGIO_SERVICES:
        build = services()[name]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).is_file()


def test_images_run_as_the_same_non_root_user() -> None:
    users = {Dockerfile.parse(path).last("USER") for path in DOCKERFILES.values()}
    assert users == {"bredgio"}
    for path in DOCKERFILES.values():
        run = " ".join(Dockerfile.parse(path).all("RUN"))
        assert "--uid 10001" in run and "chown -R bredgio:bredgio /data" in run


def test_runner_image_has_chromium_and_fonts() -> None:
    dockerfile = Dockerfile.parse(DOCKERFILES["runner"])
    assert dockerfile.env()["BREDGIO_CHROMIUM_PATH"] == "/usr/bin/chromium"
    install = " ".join(dockerfile.all("RUN"))
    assert "--no-install-recommends" in install
    for package in ("chromium", "fonts-noto-cjk", "fonts-noto-color-emoji", "tini"):
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", install), package
