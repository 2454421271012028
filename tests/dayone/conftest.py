"""Fixtures for day-one checks: a real collector (plain HTTP or TLS) on loopback."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dayone_lib import start_collector  # noqa: E402


@pytest.fixture
def collector(tmp_path):
    running = start_collector(tmp_path, tls=False)
    yield running
    running.stop()


@pytest.fixture
def tls_collector(tmp_path):
    running = start_collector(tmp_path, tls=True)
    yield running
    running.stop()
