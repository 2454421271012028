"""Shared helpers for the alerting tests: repo paths, the exported-metrics list, promtool/amtool runners."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "prometheus"
DEPLOY = ROOT / "deploy"
DASHBOARDS = ROOT / "dashboards"
METRIC_NAME = re.compile(r"\bgovwatch_[a-z0-9_]+\b")


def exported_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, labels) from exported_metrics.txt."""
    out = {}
    for line in (Path(__file__).with_name("exported_metrics.txt")).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels = line.split()
            out[name] = (kind, set(labels.split(",")))
    return out


def run_tool(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run promtool/amtool; a missing binary fails the test (CI installs them from Debian)."""
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} not installed (Debian packages prometheus / prometheus-alertmanager)")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)
