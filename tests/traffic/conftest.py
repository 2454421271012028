"""Make the frame builders importable, and fail any test that leaks a thread."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
