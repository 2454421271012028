"""TLS as `collector init` sets it up: agents verify the collector with the CA it wrote."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector
from govwatch.collector.service import Collector


@pytest.fixture
def tls_collector(tmp_path):
    init_collector(str(tmp_path / "c"))
    path = tmp_path / "c" / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg["listen"] = "127.0.0.1:0"
    path.write_text(yaml.safe_dump(cfg))
    running = Collector(load_config(str(path)))
    running.start()
    yield running
    running.stop()


def enroll(collector, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    key = (tmp_path / "c" / "enroll-key").read_text().strip()
    return subprocess.run([sys.executable, "-m", "govwatch.cli", "agent", "enroll", "--collector", collector.url,
                           "--enroll-key", key, "--name", "web-01", "--out", str(tmp_path / "cred.json"), *extra],
                          capture_output=True, text=True, timeout=60)


def test_init_writes_secrets_mode_600(tmp_path):
    init_collector(str(tmp_path / "c"))
    for name in ("admin-token", "enroll-key", "server-key.pem", "ca-key.pem"):
        assert (tmp_path / "c" / name).stat().st_mode & 0o777 == 0o600, name


def test_init_refuses_to_overwrite(tmp_path):
    init_collector(str(tmp_path / "c"))
    result = subprocess.run([sys.executable, "-m", "govwatch.cli", "collector", "init", "--data-dir",
                             str(tmp_path / "c")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "already holds collector.yml, admin-token, enroll-key, server-key.pem; use --force" in result.stderr


def test_enroll_over_tls_with_the_collector_ca(tls_collector, tmp_path):
    assert tls_collector.url.startswith("https://")
    result = enroll(tls_collector, tmp_path, "--ca-file", str(tmp_path / "c" / "ca.pem"))
    assert result.returncode == 0, result.stderr
    creds = json.loads((tmp_path / "cred.json").read_text())
    assert creds["agent"] == "web-01" and len(creds["token"]) > 30
    assert (tmp_path / "cred.json").stat().st_mode & 0o777 == 0o600


def test_enroll_without_the_ca_is_refused_with_a_hint(tls_collector, tmp_path):
    result = enroll(tls_collector, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"govwatch: TLS verification of {tls_collector.url} failed")
    assert "(pass --ca-file with the collector's ca.pem)" in result.stderr
    assert not (tmp_path / "cred.json").exists()
