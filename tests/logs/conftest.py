"""Make the log-line builders importable; collector fixtures come from tests/foundation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "foundation"))

from conftest_collector import collector, enroll, store_kind  # noqa: E402,F401
from nginx_server import nginx  # noqa: E402,F401
