"""deploy/ha/: the HA layout's files agree with each other and pass their own tools' checks.

The Prometheus pair config names both collectors and both Alertmanagers and drops `replica` from alerts; the
two Alertmanager default files are each other's mesh peers on the addresses Prometheus sends to; HAProxy's
backends are the collectors Prometheus scrapes, health-checked on /readyz. `promtool check config` and
`haproxy -c` accept the files once their certificate paths point at real files.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import DEPLOY, RULES, run_tool

HA = DEPLOY / "ha"


def prometheus() -> dict:
    return yaml.safe_load((HA / "prometheus.yml").read_text(encoding="utf-8"))


def default_args(path: Path) -> dict[str, list[str]]:
    """flag -> values from an /etc/default file's ARGS (systemd joins backslash-continued lines)."""
    text = path.read_text(encoding="utf-8").replace("\\\n", "")
    line = next(ln for ln in text.splitlines() if ln.startswith("ARGS="))
    flags: dict[str, list[str]] = {}
    for arg in " ".join(shlex.split(line.removeprefix("ARGS="))).split():
        name, _, value = arg.partition("=")
        flags.setdefault(name, []).append(value)
    return flags


def collector_targets() -> list[str]:
    job = next(j for j in prometheus()["scrape_configs"] if j["job_name"] == "govwatch-collector")
    return [t for sc in job["static_configs"] for t in sc["targets"]]


def test_prometheus_pair_config_passes_promtool(tmp_path):
    cfg = prometheus()
    cfg["rule_files"] = [str(RULES / "govwatch.yml")]
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    for job in cfg["scrape_configs"]:
        if "tls_config" in job:
            job["tls_config"]["ca_file"] = str(ca)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    result = run_tool("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_prometheus_servers_scrape_both_collectors_in_one_job_and_alert_both_alertmanagers():
    cfg = prometheus()
    assert len(collector_targets()) == 2
    targets = [t for am in cfg["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
    assert len(targets) == 2
    webs = sorted(default_args(HA / f"alertmanager-{side}.default")["--web.listen-address"][0] for side in "ab")
    assert sorted(targets) == webs, "Prometheus must send to the addresses the Alertmanagers listen on"


def test_replica_label_is_set_and_dropped_from_alerts():
    cfg = prometheus()
    assert cfg["global"]["external_labels"]["replica"] == "${GOVWATCH_REPLICA}"
    drops = [r for r in cfg["alerting"]["alert_relabel_configs"] if r["action"] == "labeldrop"]
    assert any(re.fullmatch(r["regex"], "replica") for r in drops)
    default = (HA / "prometheus.default").read_text()
    assert "GOVWATCH_REPLICA=" in default and "--enable-feature=expand-external-labels" in default


def test_alertmanagers_are_each_others_mesh_peers_with_one_shared_config():
    a, b = (default_args(HA / f"alertmanager-{side}.default") for side in "ab")
    assert a["--cluster.peer"] == b["--cluster.listen-address"]
    assert b["--cluster.peer"] == a["--cluster.listen-address"]
    assert a["--config.file"] == b["--config.file"] == ["/etc/prometheus/alertmanager.yml"]
    assert a["--cluster.listen-address"] != b["--cluster.listen-address"]


def test_haproxy_backends_are_the_scraped_collectors_checked_on_readyz():
    text = (HA / "haproxy.cfg").read_text()
    collectors = text.split("backend collectors", 1)[1].split("\nfrontend", 1)[0]
    servers = re.findall(r"^\s+server \S+ (\S+)", collectors, re.M)
    assert sorted(servers) == sorted(collector_targets())
    assert "uri /readyz" in text and "check-ssl verify required" in text


def test_haproxy_accepts_the_config(tmp_path):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy not installed (Debian package haproxy; scripts/system-deps.sh installs it)")
    loopback_haproxy(tmp_path, 18443, [("collector-a", 18444), ("collector-b", 18445)], 18405)  # writes a CA
    config = tmp_path / "shipped.cfg"   # the whole shipped file, only the CA path changed (-c binds nothing)
    config.write_text((HA / "haproxy.cfg").read_text().replace("/etc/haproxy/govwatch-ca.pem",
                                                                 str(tmp_path / "collector" / "ca.pem")))
    result = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def loopback_haproxy(tmp: Path, port: int, servers: list[tuple[str, int]], stats: int) -> Path:
    """deploy/ha/haproxy.cfg on loopback ports, with a real CA file, runnable by an unprivileged test."""
    ca = tmp / "collector" / "ca.pem"
    if not ca.exists():
        subprocess.run([sys.executable, "-m", "govwatch.cli", "collector", "init", "--data-dir", str(ca.parent)],
                       check=True, capture_output=True, timeout=60)
    text = (HA / "haproxy.cfg").read_text()
    text = re.sub(r"^\s+(log /dev/log.*|user .*|group .*|daemon)\n", "", text, flags=re.M)
    text = text.replace("/etc/haproxy/govwatch-ca.pem", str(ca))
    text = text.replace("bind 10.0.0.10:8443", f"bind 127.0.0.1:{port}")
    text = text.replace("bind 10.0.0.10:8405", f"bind 127.0.0.1:{stats}")
    text = re.sub(r"\n(frontend|backend) prometheus\n(    .*\n)+", "\n", text)   # not under test here
    for (name, target), (_, local) in zip(re.findall(r"^\s+server (\S+) (\S+)", text, re.M), servers, strict=True):
        text = text.replace(f"server {name} {target}", f"server {name} 127.0.0.1:{local}")
    path = tmp / "haproxy.cfg"
    path.write_text(text)
    return path

