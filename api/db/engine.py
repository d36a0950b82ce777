"""Engines for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout. Python's sqlite3 module opens deferred
transactions, which deadlock when two writers both upgrade from a read lock; so the
driver's own transaction handling is switched off and every transaction on a *write*
session begins with ``BEGIN IMMEDIATE`` (take the write lock first, wait for it up to the
busy timeout). Read sessions begin deferred, so readers never queue behind writers.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from api.config import Settings

WRITE_OPTION = "bredgio_write"
_HOLDS_WRITE_LOCK = "bredgio_holds_write_lock"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if is_sqlite(url):
        return _sqlite_engine(url, settings.sqlite_busy_timeout_ms)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        poolclass=None if path != ":memory:" else NullPool,
        pool_size=20,
        max_overflow=20,
        # The most recently used connection first: a connection's page cache stays
        # valid only while no other connection writes, so reusing the same few keeps
        # it warm instead of re-reading pages on every checkout.
        pool_use_lifo=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Read the file through a memory map (no read syscall per page).
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()

    # Writers of this process queue on a lock taken just before BEGIN IMMEDIATE and
    # released when the connection returns to the pool (after COMMIT or ROLLBACK): they
    # then wait in order instead of polling SQLite's busy handler, which sleeps with a
    # growing back-off and wastes most of the time under contention. Writers in other
    # processes (the CLI, runners) still wait on the busy timeout.
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: this runs once per transaction on every request.
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        if not conn.get_execution_options().get(WRITE_OPTION, True):
            dbapi_connection.execute("BEGIN")
            return
        record_info = conn.connection._connection_record.info
        if not record_info.get(_HOLDS_WRITE_LOCK):
            if not write_lock.acquire(timeout=busy_timeout_ms / 1000):
                raise exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
            record_info[_HOLDS_WRITE_LOCK] = True
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            record_info.pop(_HOLDS_WRITE_LOCK, None)
            write_lock.release()
            raise

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

    return engine
