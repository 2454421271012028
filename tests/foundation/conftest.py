"""Fixtures: a real collector in this process on a free loopback port, and enrolled agents."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector
from govwatch.collector.service import Collector


def make_collector_config(tmp_path: Path, **overrides) -> Path:
    """`collector init` output, switched to plain HTTP on a free loopback port."""
    data_dir = tmp_path / "collector"
    if not (data_dir / "collector.yml").exists():
        init_collector(str(data_dir))
    path = data_dir / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({"listen": "127.0.0.1:0", "sites": []}, **overrides)
    cfg.pop("tls", None)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request) -> str:
    """`store:` for the collector fixture: the embedded SQLite, or a fresh PostgreSQL database."""
    return "sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_dsn")


@pytest.fixture
def collector(tmp_path, store_kind):
    running = Collector(load_config(str(make_collector_config(tmp_path, store=store_kind))))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def enroll(collector):
    def enroll_agent(name: str = "web-01") -> str:
        key = Path(collector.cfg["enroll_key_file"]).read_text().strip()
        response = requests.post(f"{collector.url}/api/v1/enroll", json={"name": name, "enroll_key": key}, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    return enroll_agent
