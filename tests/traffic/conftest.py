"""Make the frame builders importable, and fail any test that leaks a thread."""

from __future__ import annotations

import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and t.name.startswith("govwatch")]
    assert not leaked, f"threads left running: {leaked}"
