"""Helpers for day-one checks: a real collector (plain HTTP or TLS) on loopback and a README-style agent.yml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector
from govwatch.collector.service import Collector


def govwatch(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govwatch.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def start_collector(tmp_path: Path, tls: bool) -> Collector:
    init_collector(str(tmp_path / "c"))
    path = tmp_path / "c" / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update(listen="127.0.0.1:0", sites=[])
    if not tls:
        cfg.pop("tls")
    path.write_text(yaml.safe_dump(cfg))
    running = Collector(load_config(str(path)))
    running.start()
    return running


def enroll_token(collector: Collector, name: str = "web-01") -> str:
    key = Path(collector.cfg["enroll_key_file"]).read_text().strip()
    answer = requests.post(f"{collector.url}/api/v1/enroll", json={"name": name, "enroll_key": key}, timeout=20,
                           verify=str(Path(collector.cfg["data_dir"]) / "ca.pem"))
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def write_agent(tmp_path: Path, url: str, token: str, extra: str = "", fim: str | None = None) -> Path:
    """An agent.yml exactly like the README's (no data_dir), with its credentials file beside it."""
    (tmp_path / "cred.json").write_text(json.dumps({"agent": "web-01", "token": token}))
    (tmp_path / "cred.json").chmod(0o600)
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    path = tmp_path / "agent.yml"
    path.write_text(f'name: web-01\nministry: MoC\ncollector: {{url: "{url}", credentials: cred.json}}\n'
                    f"spool: {tmp_path}/state/spool.db\nfim: {{paths: [{fim or www}]}}\n{extra}")
    return path
