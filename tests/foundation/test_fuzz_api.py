"""A bounded schemathesis run against a live collector, driven by /api/v1/openapi.json: never a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))


def fuzz(url: str, token: str, workdir: Path, *selection: str) -> subprocess.CompletedProcess:
    """One schemathesis run: only the not-a-server-error check, a fixed seed, capped examples and time
    (run in `workdir`, where schemathesis leaves its cache)."""
    return subprocess.run(
        [SCHEMATHESIS, "run", f"{url}/api/v1/openapi.json", "--checks", "not_a_server_error", "--workers", "1",
         "--max-examples", "20", "--max-time", "60", "--seed", "11", "--no-color", "--request-timeout", "20",
         "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "-H",
         f"Authorization: Bearer {token}", *selection],
        capture_output=True, text=True, timeout=400, cwd=workdir)


@pytest.mark.slow
@pytest.mark.skipif(not Path(SCHEMATHESIS).exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
def test_schemathesis_finds_no_server_error(collector, enroll, tmp_path):
    description = requests.get(f"{collector.url}/api/v1/openapi.json", timeout=10)
    assert description.status_code == 200 and description.json()["openapi"].startswith("3.")
    agent = fuzz(collector.url, enroll("fuzz-agent"), tmp_path, "--include-path", "/api/v1/events")
    assert agent.returncode == 0, agent.stdout[-4000:] + agent.stderr[-2000:]
    staff = fuzz(collector.url, collector.admin_token, tmp_path, "--exclude-path", "/api/v1/events")
    assert staff.returncode == 0, staff.stdout[-4000:] + staff.stderr[-2000:]
    assert requests.get(f"{collector.url}/healthz", timeout=10).status_code == 200
