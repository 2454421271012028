"""Real processes on loopback: `govwatch collector run` and `govwatch agent run` as a sysadmin starts them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

GOVWATCH = [sys.executable, "-m", "govwatch.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


class Suite:
    """A collector process (restartable) and agent processes, all cleaned up at the end."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.collector: subprocess.Popen | None = None
        subprocess.run([*GOVWATCH, "collector", "init", "--data-dir", str(work / "c")], check=True,
                       capture_output=True)
        self.config = work / "c" / "collector.yml"

    def configure(self, **changes) -> None:
        cfg = yaml.safe_load(self.config.read_text())
        cfg.update({"listen": f"127.0.0.1:{self.port}", "sites": []}, **changes)
        cfg.pop("tls", None)
        self.config.write_text(yaml.safe_dump(cfg))

    def start_collector(self) -> None:
        log = open(self.work / "collector.log", "a")
        self.collector = subprocess.Popen([*GOVWATCH, "collector", "run", "-c", str(self.config)], stdout=log,
                                          stderr=log)
        self.procs.append(self.collector)
        assert wait_for(self.healthy, 20), (self.work / "collector.log").read_text()[-2000:]

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill_collector(self) -> None:
        assert self.collector is not None
        self.collector.send_signal(signal.SIGKILL)
        self.collector.wait(10)

    def enroll(self, name: str) -> Path:
        out = self.work / f"{name}-credentials.json"
        key = (self.work / "c" / "enroll-key").read_text().strip()
        subprocess.run([*GOVWATCH, "agent", "enroll", "--collector", self.url, "--enroll-key", key, "--name", name,
                        "--out", str(out)], check=True, capture_output=True)
        return out

    def start_agent(self, name: str, **sections) -> Path:
        creds = self.enroll(name)
        config = self.work / f"{name}.yml"
        cfg = {"name": name, "ministry": "MoC", "heartbeat": "1s",
               "collector": {"url": self.url, "credentials": str(creds), "max_backoff": "1s"},
               "spool": str(self.work / f"{name}-spool.db"), **sections}
        config.write_text(yaml.safe_dump(cfg))
        log = open(self.work / f"{name}.log", "a")
        self.procs.append(subprocess.Popen([*GOVWATCH, "agent", "run", "-c", str(config)], stdout=log, stderr=log))
        return config

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.work / f"{name}.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else "(no log)"

    def metric(self, name: str, **labels: str) -> float:
        try:
            text = requests.get(f"{self.url}/metrics", timeout=5).text
        except requests.RequestException:
            return -1.0
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def suite(tmp_path):
    running = Suite(tmp_path)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    yield running
    running.stop()
