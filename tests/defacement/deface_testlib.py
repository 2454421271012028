"""Helpers shared by the defacement tests (importable because conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "corpus", "defacement"))
RULES_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "rules", "defacement"))


def corpus_root() -> str:
    """The full shared corpus when present (development), else the small copy under tests/defacement/data."""
    return SHARED if os.path.isdir(os.path.join(SHARED, "legit")) else DATA


def read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()
