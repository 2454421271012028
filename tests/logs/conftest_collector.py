"""The foundation tests' in-process collector, reused for the collector-side join tests."""

from __future__ import annotations

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "foundation_conftest", os.path.join(os.path.dirname(__file__), "..", "foundation", "conftest.py"))
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
collector = _module.collector
enroll = _module.enroll
store_kind = _module.store_kind  # the collector runs over SQLite and PostgreSQL
