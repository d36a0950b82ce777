"""The ``bredgio`` command line. Every command creates and migrates the database if needed
and works while ``bredgio up`` is running."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading

import click

from api.config import Settings
from api.context import AppContext
from api.errors import BredgioError

ADMIN_EMAIL = "admin@bredgio.local"


def _context() -> AppContext:
    return AppContext.create(Settings())


def _fail(error: BredgioError) -> None:
    click.echo(f"error: {error.message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Bredgio: a self-hosted control plane for browser agents that post to your own
    Facebook and X accounts.

    Configuration comes from BREDGIO_* environment variables (BREDGIO_DATA_DIR,
    BREDGIO_DATABASE_URL, BREDGIO_REDIS_URL, BREDGIO_SECRET_KEY, ...)."""


def _serve(
    context: AppContext, host: str, port: int, *, redis_url: str | None, scheduler: bool
) -> None:
    import uvicorn

    from api.app import create_app
    from api.components import components_for

    lifespans = components_for(context, redis_url=redis_url, scheduler=scheduler)
    app = create_app(context, lifespans=lifespans)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=context.settings.access_log,
        proxy_headers=True,
    )


class _Supervisor:
    """Keeps the runner process of ``bredgio up`` alive and stops it with the server."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="runner-supervisor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.process = subprocess.Popen(self.argv, env=self.env)
            code = self.process.wait()
            if self.stopping.is_set():
                return
            click.echo(f"runner exited with {code}; restarting in 1 s", err=True)
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _bootstrap_admin(context: AppContext) -> tuple[str, str, str] | None:
    """On a database with no users, create the admin and a PAT; return what to print."""
    from sqlmodel import func, select

    from api.db.models import User
    from api.services import auth as auth_service
    from api.services import users as user_service

    with context.db.unit() as session:
        if session.exec(select(func.count()).select_from(User)).one():
            return None
        password = secrets.token_urlsafe(12)
        user = user_service.create_user(
            session, email=ADMIN_EMAIL, password=password, name="Admin", plan="team"
        )
        _, token = auth_service.mint_pat(session, context, user, name="bootstrap", enforce=False)
        return user.email, password, token


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def up(host: str, port: int) -> None:
    """Start everything on embedded defaults: the API, the scheduler, an embedded Redis
    and a runner pool, with SQLite under BREDGIO_DATA_DIR (default ./data)."""
    context = _context()
    created = _bootstrap_admin(context)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{port}"
    click.echo(f"Bredgio is starting at {url}")
    click.echo(f"  API docs:  {url}/docs")
    click.echo(f"  data dir:  {context.settings.resolved_data_dir}")
    if created:
        email, password, token = created
        click.echo("")
        click.echo("First run: an admin account was created. This is shown once; save it now.")
        click.echo(f"  email:     {email}")
        click.echo(f"  password:  {password}")
        click.echo(f"  API token: {token}")
        click.echo(f"  try:       curl -H 'Authorization: Bearer {token}' {url}/api/agents")
    else:
        click.echo("Log in with your account; create API tokens with `bredgio pat create EMAIL`.")
    click.echo("")
    redis_url = context.settings.redis_url
    embedded = None
    if not redis_url:
        from api.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(
            context.settings.resolved_data_dir / "redis", context.settings.embedded_redis_url_file
        )
        redis_url = embedded.start()
    env = {**os.environ, "BREDGIO_REDIS_URL": redis_url}
    env["BREDGIO_DATA_DIR"] = str(context.settings.resolved_data_dir)
    supervisor = _Supervisor([sys.executable, "-m", "api.cli", "runner"], env)
    supervisor.start()
    try:
        _serve(context, host, port, redis_url=redis_url, scheduler=True)
    finally:
        supervisor.stop()
        if embedded is not None:
            embedded.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def api(host: str, port: int) -> None:
    """Run the HTTP API and, unless BREDGIO_SCHEDULER_IN_API=false, the scheduler
    (production: with BREDGIO_DATABASE_URL and BREDGIO_REDIS_URL, next to `bredgio runner`
    processes and optionally `bredgio scheduler` ones)."""
    context = _context()
    _serve(
        context,
        host,
        port,
        redis_url=context.settings.resolved_redis_url(),
        scheduler=context.settings.scheduler_in_api,
    )


@main.command()
def scheduler() -> None:
    """Run the scheduler alone: it fires due schedules into tasks. Safe to run several,
    and next to `bredgio api` processes that run it too: each fire happens once."""
    import logging

    from api.scheduler import run_standalone

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(message)s"
    )
    run_standalone(Settings())


@main.command()
def runner() -> None:
    """Run a runner worker: it owns Chromium and runs the tasks of runner agents.
    Needs BREDGIO_REDIS_URL (or a `bredgio up` running on the same data dir). Start
    several, on several hosts, against the same database, Redis and profiles volume."""
    import logging

    from runner.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s runner %(levelname)s %(message)s")
    settings = Settings()
    redis_url = settings.resolved_redis_url()
    if not redis_url:
        click.echo("error: set BREDGIO_REDIS_URL (or start `bredgio up` first)", err=True)
        sys.exit(2)
    AppContext.create(settings).db.dispose()  # migrate before the worker starts
    run_worker(settings, redis_url)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema, then exit."""
    context = _context()
    click.echo(f"database is up to date: {context.settings.resolved_database_url.split('@')[-1]}")


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="", help="Display name (default: the part before @).")
@click.option(
    "--plan",
    type=click.Choice(["free", "pro", "team"]),
    default="free",
    show_default=True,
    help="Billing plan (matters when BREDGIO_ENFORCE_PLANS is on).",
)
def user_create(email: str, password: str, name: str, plan: str) -> None:
    """Create a user."""
    from api.services import users as user_service

    context = _context()
    try:
        with context.db.unit() as session:
            created = user_service.create_user(
                session, email=email, password=password, name=name, plan=plan
            )
            user_id, user_email = created.id, created.email
    except BredgioError as error:
        _fail(error)
    click.echo(f"created user {user_email} ({plan}) id={user_id}")


@user.command("password")
@click.argument("email")
@click.option("--password", required=True, help="The new password, at least 8 characters.")
def user_password(email: str, password: str) -> None:
    """Set a user's password."""
    from api.errors import BadRequest, NotFound
    from api.security import hash_password
    from api.services import users as user_service

    context = _context()
    try:
        if len(password) < user_service.MIN_PASSWORD_LENGTH:
            raise BadRequest(
                f"Password must be at least {user_service.MIN_PASSWORD_LENGTH} characters"
            )
        with context.db.unit() as session:
            found = user_service.get_by_email(session, email)
            if found is None:
                raise NotFound(f"No user with email {email}")
            found.password_hash = hash_password(password)
            session.add(found)
    except BredgioError as error:
        _fail(error)
    click.echo(f"password updated for {email.strip().lower()}")


@main.group()
def pat() -> None:
    """Manage Personal Access Tokens."""


@pat.command("create")
@click.argument("email")
@click.option("--name", default="", help="A label to recognise the token by.")
def pat_create(email: str, name: str) -> None:
    """Mint a PAT for a user; the token is the last line of output (shown once)."""
    from api.errors import NotFound
    from api.services import auth as auth_service
    from api.services import users as user_service

    context = _context()
    try:
        with context.db.unit() as session:
            found = user_service.get_by_email(session, email)
            if found is None:
                raise NotFound(f"No user with email {email}")
            _, token = auth_service.mint_pat(session, context, found, name=name, enforce=False)
    except BredgioError as error:
        _fail(error)
    click.echo(f"PAT for {email.strip().lower()} (shown once):")
    click.echo(token)


if __name__ == "__main__":
    main()
