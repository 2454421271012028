"""Alerting that survives one box, on loopback with the real Debian Alertmanager and Prometheus.

Two Alertmanagers run deploy/alertmanager.yml clustered as deploy/ha/alertmanager-*.default does it (mesh
peers on 127.0.0.1); every alert is posted to both, as a Prometheus pair does. A webhook receiver in this test
must get exactly one notification per alert group, and still one when an Alertmanager is SIGKILLed (whose
silence the survivor keeps). Without
the cluster the same traffic is notified twice (the control that shows the counting can fail). Last, two real
Prometheus servers run deploy/ha/prometheus.yml against two collectors that export identical series: one
SiteDown reaches the webhook, once, with neither `replica` nor `instance`.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from .conftest import DEPLOY
from .test_e2e_alertmanager import Processes, Receiver, alertmanager_config, fast_rules, free_port, serve, wait_for

pytestmark = pytest.mark.slow

AM = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PEER_TIMEOUT = 5.0       # seconds the second Alertmanager waits for the first before it sends itself
QUIET = 2 * PEER_TIMEOUT + 5   # long enough for a duplicate to show up if the dedup did not hold


def need(binary: str | None, package: str) -> str:
    if binary is None:
        pytest.skip(f"{package} not installed (Debian package {package}; scripts/system-deps.sh installs it)")
    return binary


class Pair:
    """Two Alertmanagers on loopback, clustered or not, and the webhook they notify."""

    def __init__(self, tmp: Path, procs: Processes, receiver: Receiver, clustered: bool) -> None:
        self.tmp, self.procs, self.receiver, self.seen = tmp, procs, receiver, []
        self.web = [free_port(), free_port()]
        self.mesh = [free_port(), free_port()]
        config = alertmanager_config(tmp, f"http://127.0.0.1:{receiver.server_address[1]}/alerts")
        self.handles = [procs.start(f"am-{i}", self.argv(i, config, clustered)) for i in (0, 1)]
        wait_for(lambda: all(self.ready(i, clustered) for i in (0, 1)), 60, "both Alertmanagers ready")

    def argv(self, i: int, config: Path, clustered: bool) -> list[str]:
        mesh = [f"--cluster.listen-address=127.0.0.1:{self.mesh[i]}",
                f"--cluster.advertise-address=127.0.0.1:{self.mesh[i]}",
                f"--cluster.peer=127.0.0.1:{self.mesh[1 - i]}", f"--cluster.peer-timeout={PEER_TIMEOUT:g}s",
                "--cluster.pushpull-interval=2s"] if clustered else ["--cluster.listen-address="]
        return [need(AM, "prometheus-alertmanager"), f"--config.file={config}",
                f"--storage.path={self.tmp / f'am-{i}'}", f"--web.listen-address=127.0.0.1:{self.web[i]}", *mesh]

    def ready(self, i: int, clustered: bool) -> bool:
        self.procs.check_alive()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web[i]}/api/v2/status", timeout=5) as response:
            cluster = json.load(response)["cluster"]
        return not clustered or (cluster["status"] == "ready" and len(cluster.get("peers") or []) == 2)

    def post(self, alerts: list[dict], targets: tuple[int, ...] = (0, 1)) -> None:
        """What each Prometheus of a pair does: the same alerts to every Alertmanager, errors only logged."""
        body = json.dumps(alerts).encode()
        for i in targets:
            request = urllib.request.Request(f"http://127.0.0.1:{self.web[i]}/api/v2/alerts", data=body,
                                             headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert response.status == 200
            except urllib.error.URLError:
                pass  # a dead Alertmanager: Prometheus logs it and carries on with the other

    def silence(self, i: int, site: str) -> str:
        """A one-hour silence of `site` made on Alertmanager i (as an operator would in its web UI)."""
        now = datetime.now(UTC)
        body = json.dumps({"matchers": [{"name": "site", "value": site, "isRegex": False, "isEqual": True}],
                           "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                           "createdBy": "test", "comment": "HA drill"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.web[i]}/api/v2/silences", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["silenceID"]

    def silences(self, i: int) -> set[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web[i]}/api/v2/silences", timeout=5) as response:
            return {s["id"] for s in json.load(response) if s["status"]["state"] == "active"}

    def collect(self, seconds: float) -> list[dict]:
        """Every notification that arrives within `seconds` (added to self.seen)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.seen.append(self.receiver.notifications.get(timeout=max(0.05, end - time.monotonic())))
            except queue.Empty:
                break
        return self.seen

    def firing_per_group(self) -> Counter:
        return Counter(note["groupLabels"]["site"] for note in self.seen if note["status"] == "firing")

    def wait_groups(self, sites: set[str], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not sites <= set(self.firing_per_group()) and time.monotonic() < end:
            self.collect(0.5)
        missing = sites - set(self.firing_per_group())
        logs = {p.name: p.read_text(errors="replace")[-1500:] for p in sorted(self.tmp.glob("*.log"))}
        assert not missing, f"no notification for {sorted(missing)} within {timeout:.0f}s; logs: {logs}"


def alert(name: str, site: str, severity: str = "critical") -> dict:
    return {"labels": {"alertname": name, "site": site, "ministry": "MoC", "agent": "", "severity": severity,
                       "team": "operations"},
            "annotations": {"summary": f"{name} {site}", "summary_km": f"{name} {site}"},
            "startsAt": datetime.now(UTC).isoformat()}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[Path, Processes, Receiver]]:
    need(AM, "prometheus-alertmanager")
    receiver, procs = Receiver(), Processes(tmp_path)
    thread = serve(receiver)
    try:
        yield tmp_path, procs, receiver
    finally:
        procs.stop()
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)


def test_clustered_alertmanagers_notify_once_per_group_and_survive_one_dying(harness):
    pair = Pair(*harness, clustered=True)
    first = [alert("SiteDown", "ha-1"), alert("DefacementDetected", "ha-2"), alert("SiteSlow", "ha-3", "warning")]
    pair.post(first)
    pair.wait_groups({"ha-1", "ha-2", "ha-3"}, 60)
    pair.collect(QUIET)
    assert pair.firing_per_group() == {"ha-1": 1, "ha-2": 1, "ha-3": 1}, pair.seen
    assert all(len(note["alerts"]) == 1 for note in pair.seen)
    # A silence made on the first reaches the second before the first dies.
    silence = pair.silence(0, "ha-5")
    wait_for(lambda: silence in pair.silences(1), 30, "the silence to reach the other Alertmanager")
    # One Alertmanager dies. The other pages for what is new, without re-paging what was already sent, and
    # keeps the dead one's silence.
    pair.handles[0].kill()
    pair.handles[0].wait(10)
    pair.post([alert("SiteDown", "ha-4"), alert("SiteDown", "ha-5")])
    pair.wait_groups({"ha-4"}, 60 + PEER_TIMEOUT)
    pair.collect(QUIET)
    assert pair.firing_per_group() == {"ha-1": 1, "ha-2": 1, "ha-3": 1, "ha-4": 1}, pair.seen
    assert pair.handles[1].poll() is None


def test_control_without_the_cluster_each_alertmanager_notifies(harness):
    """The same traffic to two unclustered Alertmanagers pages twice: what the mesh prevents."""
    pair = Pair(*harness, clustered=False)
    pair.post([alert("SiteDown", "ha-1")])
    end = time.monotonic() + 60
    while pair.firing_per_group()["ha-1"] < 2 and time.monotonic() < end:
        pair.collect(0.5)
    assert pair.firing_per_group()["ha-1"] == 2, pair.seen


class Collector:
    """A collector's /metrics: the same store-derived series from each of the two (shared store)."""

    BODY = ("# TYPE govwatch_site_up gauge\ngovwatch_site_up{site=\"ha-p\"} 0\ngovwatch_site_up{site=\"ha-ok\"} 1\n"
            "# TYPE govwatch_site_info gauge\n"
            "govwatch_site_info{site=\"ha-p\",ministry=\"MoC\",agent=\"moc-web-01\"} 1\n"
            "govwatch_site_info{site=\"ha-ok\",ministry=\"MoH\",agent=\"\"} 1\n")


def metrics_server():
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = Collector.BODY.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def ha_prometheus(tmp: Path, name: str, collectors: list[int], ams: list[int]) -> tuple[Path, list[str], dict]:
    """deploy/ha/prometheus.yml with loopback targets, fast timers, and its /etc/default file's env and flags."""
    cfg = yaml.safe_load((DEPLOY / "ha" / "prometheus.yml").read_text(encoding="utf-8"))
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(fast_rules(tmp))]
    cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{p}" for p in ams]
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "govwatch-collector")
    job.pop("tls_config")
    job["scheme"] = "http"
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{p}" for p in collectors]
    cfg["scrape_configs"] = [job]
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(cfg))
    env, args = default_file(DEPLOY / "ha" / "prometheus.default")
    flags = [a for a in args if a.startswith("--enable-feature")]
    return path, flags, {**env, "GOVWATCH_REPLICA": name}


def default_file(path: Path) -> tuple[dict, list[str]]:
    """An /etc/default file as systemd reads it: KEY=value lines, backslash continuations; ARGS split."""
    text = path.read_text().replace("\\\n", "")
    env = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = " ".join(shlex.split(value))
    return {k: v for k, v in env.items() if k != "ARGS"}, shlex.split(env.get("ARGS", ""))


def test_prometheus_pair_to_clustered_alertmanagers_notifies_once(harness):
    prometheus = need(shutil.which("prometheus"), "prometheus")
    tmp, procs, _ = harness
    pair = Pair(*harness, clustered=True)
    servers = [metrics_server(), metrics_server()]
    threads = [serve(s) for s in servers]
    try:
        for name in ("prom-a", "prom-b"):
            config, flags, env = ha_prometheus(tmp, name, [s.server_address[1] for s in servers], pair.web)
            log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed by procs.stop with the process)
            proc = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / name}",
                                     f"--web.listen-address=127.0.0.1:{free_port()}", *flags],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                    start_new_session=True)
            procs.procs.append((name, proc, log))
        pair.wait_groups({"ha-p"}, 90)
        pair.collect(QUIET)
        assert pair.firing_per_group() == {"ha-p": 1}, pair.seen
        note = next(n for n in pair.seen if n["groupLabels"]["site"] == "ha-p")
        assert len(note["alerts"]) == 1, note["alerts"]   # not one per Prometheus, not one per collector
        labels = note["alerts"][0]["labels"]
        assert labels["alertname"] == "SiteDown" and labels["ministry"] == "MoC" and labels["agent"] == "moc-web-01"
        assert "replica" not in labels and "instance" not in labels
        for name in ("prom-a", "prom-b"):   # both reached both Alertmanagers
            assert "Error sending alert" not in (tmp / f"{name}.log").read_text(errors="replace")
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(5)
