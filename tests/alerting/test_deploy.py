"""deploy/: Alertmanager routes, receivers and inhibition; the Prometheus config; Grafana provisioning."""

from __future__ import annotations

import re

import yaml

from .conftest import DASHBOARDS, DEPLOY, RULES, run_tool


def am_config() -> dict:
    return yaml.safe_load((DEPLOY / "alertmanager.yml").read_text(encoding="utf-8"))


def alert_names() -> set[str]:
    return set(re.findall(r"- alert: (\w+)", (RULES / "govwatch.yml").read_text(encoding="utf-8")))


def route(labels: str) -> str:
    result = run_tool("amtool", "config", "routes", "test", f"--config.file={DEPLOY / 'alertmanager.yml'}",
                      *labels.split())
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_amtool_check_config_passes():
    result = run_tool("amtool", "check-config", str(DEPLOY / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_telegram_email_and_webhook_receivers_exist():
    kinds = {key for receiver in am_config()["receivers"] for key in receiver if key.endswith("_configs")}
    assert {"telegram_configs", "email_configs", "webhook_configs"} <= kinds


def test_alerts_route_by_severity():
    assert route("alertname=SiteDown severity=critical site=moc-home") == "page"
    assert route("alertname=SiteSlow severity=warning site=moc-home") == "email"
    assert route("alertname=SiteMaintenance severity=info site=moc-home") == "null"


def test_grouping_is_by_site():
    assert am_config()["route"]["group_by"][0] == "site"


def test_inhibition_names_real_alerts_and_labels_the_rules_set():
    rules_text = (RULES / "govwatch.yml").read_text(encoding="utf-8")
    names = alert_names()
    for rule in am_config()["inhibit_rules"]:
        mentioned = set(re.findall(r"[A-Z][A-Za-z]+", " ".join(rule["source_matchers"] + rule["target_matchers"])))
        assert mentioned <= names, f"inhibit rule names unknown alerts: {mentioned - names}"
        for label in rule["equal"]:
            assert label in rules_text, f"no rule sets the {label!r} label the inhibition joins on"
    security = {"DefacementDetected", "FIMCriticalChange"}
    targets = " ".join(m for rule in am_config()["inhibit_rules"] for m in rule["target_matchers"])
    assert not any(name in targets for name in security), "security alerts must never be inhibited"


def test_prometheus_config_is_valid_once_paths_exist(tmp_path):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    config["rule_files"] = [str(RULES / "govwatch.yml")]
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    for job in config["scrape_configs"]:
        if "tls_config" in job:
            job["tls_config"]["ca_file"] = str(ca)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run_tool("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "govwatch-collector" in jobs  # CollectorDown matches this job name


def test_grafana_provisioning_matches_the_dashboards():
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/govwatch.yml").read_text())
    uids = {d["uid"] for d in datasource["datasources"]}
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/govwatch.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    used = set(re.findall(r'"uid": "(govwatch-prometheus)"', "".join(p.read_text() for p in DASHBOARDS.glob("*.json"))))
    assert used and used <= uids
