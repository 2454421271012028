"""Shared by every test folder: fail any test that leaves a thread running (watchdog's habit).

This is tests/conftest.py, not the repo root: the bare `agents/` and `collector/` folders are never put
on sys.path (pytest runs with --import-mode=importlib), so only the installed `govwatch` is imported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


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
