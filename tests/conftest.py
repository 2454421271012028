"""Shared by every test folder: fail any test that leaves a thread running (watchdog's habit).

This is tests/conftest.py, not the repo root: the bare `agents/` and `collector/` folders are never put
on sys.path (pytest runs with --import-mode=importlib), so only the installed `govwatch` is imported.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/pgserver.py for every folder


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"threads leaked: {[t.name for t in leaked]}")
        time.sleep(0.05)


# ---- PostgreSQL (tests/pgserver.py): one server per session, a fresh database per test --------------------

@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL on 127.0.0.1 for the whole session (skipped with the reason when unavailable)."""
    from pgserver import PgServer, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer().start()
    yield server
    server.close()


@pytest.fixture
def pg_dsn(pg_server) -> Iterator[str]:
    """The DSN of an empty database of its own for this test."""
    dsn = pg_server.fresh_database()
    yield dsn
    pg_server.drop_database(dsn)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path) -> str:
    """Where a Store lives, once per backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "govwatch.db")
    return request.getfixturevalue("pg_dsn")
