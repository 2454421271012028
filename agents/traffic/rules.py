"""Traffic rules: one house-style YAML file per detector, holding its thresholds and its own tests.

A rule names its `detector` (one of the contract's kinds), overrides `params` (every knob has a
documented default below, unknown knobs are refused at file:line), may list `allow` CIDRs (sources
never reported: the "user known" exception hook) and carries `tests`: feature records with the verdict
expected from `decide`, the very function the live detector calls.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from govwatch.detector_rules import DetectorRule, check_allow_and_tests, load_detectors
from govwatch.detector_rules import self_test as self_test  # re-exported: `test-rules` calls rules.self_test
from govwatch.rules import Rule

from .detectors import REGISTRY

# the traffic anomaly kinds: the engine's built-in detectors, then the plug-in ones (detectors/)
KINDS = ("port_scan", "syn_flood", "udp_flood", "icmp_flood", "reflection", "brute_force", "http_flood",
         "volume_spike", "outbound_anomaly", *REGISTRY)

AUTH_PORTS = {22: "ssh", 21: "ftp", 23: "telnet", 25: "smtp", 110: "pop3", 143: "imap", 465: "smtps",
              587: "submission", 993: "imaps", 995: "pop3s", 1433: "mssql", 3306: "mysql", 3389: "rdp",
              5432: "postgresql", 5900: "vnc"}
REFLECTION_PORTS = {19: "chargen", 53: "dns", 123: "ntp", 137: "netbios", 161: "snmp", 389: "cldap",
                    500: "ike", 520: "rip", 1900: "ssdp", 3283: "ard", 3702: "ws-discovery", 5353: "mdns",
                    10001: "ubiquiti", 11211: "memcached"}
SCANNER_AGENTS = ["nmap", "nikto", "sqlmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster",
                  "openvas", "acunetix", "nessus", "wfuzz", "ffuf", "feroxbuster"]
INTERNAL_NETS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10"]
LOGIN_PATHS = ["/wp-login.php", "/xmlrpc.php", "/login", "/admin", "/user/login", "/administrator",
               "/phpmyadmin", "/signin", "/auth"]

# kind -> {param: default}; a rule may override any of these and nothing else.
PARAMS: dict[str, dict[str, Any]] = {
    "port_scan": {"window": 60.0, "distinct_ports": 25, "distinct_hosts": 25, "theta0": 0.8, "theta1": 0.2,
                  "alpha": 0.01, "beta": 0.99, "min_failed": 5, "pending_timeout": 3.0,
                  "fingerprint_user_agents": 3, "fingerprint_odd_flags": 3, "fingerprint_max_odd_per_port": 50,
                  "fingerprint_http_errors": 30, "fingerprint_error_ratio": 0.5, "scanner_agents": SCANNER_AGENTS,
                  "quiet": 30.0},
    "syn_flood": {"min_rate": 200.0, "min_half_open": 0.7, "cusum_threshold": 500.0, "initial_baseline": 10.0,
                  "baseline_alpha": 0.01, "slack_ratio": 0.5, "slack_min": 20.0, "min_port_share": 0.5,
                  "min_sources_spread": 100, "quiet": 10.0},
    "udp_flood": {"min_pps": 1000.0, "min_bps": 50e6, "factor": 5.0, "initial_baseline": 10.0, "dns_min_share": 0.8,
                  "dns_warmup": 60.0,
                  "baseline_alpha": 0.01, "quiet": 10.0},
    "icmp_flood": {"min_pps": 200.0, "min_bps": 20e6, "factor": 5.0, "initial_baseline": 2.0,
                   "baseline_alpha": 0.01, "quiet": 10.0},
    "reflection": {"ports": sorted(REFLECTION_PORTS), "window": 10.0, "min_reflectors": 10, "min_packets": 50,
                   "min_bps": 8e6, "min_synack": 100, "min_synack_sources": 5, "quiet": 15.0},
    "brute_force": {"ports": sorted(AUTH_PORTS), "window": 300.0, "min_attempts": 10, "min_auth_failures": 5,
                    "max_attempt_bytes": 16384, "max_attempt_seconds": 120.0, "max_attempt_segments": 40,
                    "min_ssh_attempt_bytes": 600,
                    "login_paths": LOGIN_PATHS, "min_login_posts": 10, "periodic_min_period": 0.5,
                    "periodic_max_cv": 0.1, "periodic_max_size_spread": 0.1, "periodic_max_bytes": 1024,
                    "min_distributed_sources": 20, "min_distributed_attempts": 40, "quiet": 120.0},
    "http_flood": {"window": 10.0, "min_requests_per_source": 1000, "min_learned_requests_per_source": 200,
                   "source_factor": 5.0,
                   "initial_source_baseline": 20.0, "source_baseline_alpha": 0.1, "min_rps": 500.0, "factor": 5.0,
                   "baseline_alpha": 0.01, "initial_baseline": 20.0, "warmup": 60.0, "quiet": 15.0},
    "volume_spike": {"warmup": 120.0, "z": 6.0, "factor": 4.0, "min_pps": 2000.0, "sustain": 5.0,
                     "alpha": 0.01, "quiet": 30.0},
    "outbound_anomaly": {"window": 60.0, "distinct_hosts": 50, "distinct_ports": 25, "beacon_min_count": 8,
                         "beacon_max_cv": 0.1, "beacon_min_period": 5.0, "ignore_ports": [53, 123],
                         "beacon_ignore_nets": INTERNAL_NETS, "quiet": 60.0},
}


def _port_scan(p: dict[str, Any], f: dict[str, Any]) -> bool:
    sweep = (f.get("trw_scanner") and f.get("failed", 0) >= p["min_failed"]) \
        or f.get("distinct_ports", 0) >= p["distinct_ports"] or f.get("distinct_hosts", 0) >= p["distinct_hosts"]
    errors, requests = f.get("http_errors", 0), f.get("http_requests", 0)
    odd = f.get("odd_tcp_flags", 0)   # a few odd-flag probes fingerprint; thousands at one port are a flood
    fingerprint = f.get("scanner_user_agent", 0) >= p["fingerprint_user_agents"] \
        or p["fingerprint_odd_flags"] <= odd <= p["fingerprint_max_odd_per_port"] * max(f.get("distinct_ports", 0), 1) \
        or (errors >= p["fingerprint_http_errors"] and errors >= p["fingerprint_error_ratio"] * max(requests, 1))
    return bool(sweep or fingerprint)


def _syn_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return (f.get("syn_rate", 0) >= p["min_rate"] and f.get("cusum", 0) >= p["cusum_threshold"]
            and f.get("half_open_ratio", 0) >= p["min_half_open"]
            and (f.get("top_port_share", 0) >= p["min_port_share"] or f.get("sources", 0) >= p["min_sources_spread"]))


def _rate_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    loud = f.get("pps", 0) >= p["min_pps"] or f.get("bps", 0) >= p["min_bps"]
    return bool(loud and f.get("pps", 0) >= p["factor"] * f.get("baseline_pps", 0))


def _udp_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    """Loud one-way UDP is a flood; loud UDP the server answers is a busy service (HTTP/3, a VPN)
    unless it is queries to the server's own DNS far above the rate learned for `dns_warmup` seconds."""
    if not _rate_flood(p, f):
        return False
    if not f.get("answered"):
        return True
    return f.get("dns_share", 0) >= p["dns_min_share"] and f.get("learned_s", 0) >= p["dns_warmup"]


def _reflection(p: dict[str, Any], f: dict[str, Any]) -> bool:
    replies = f.get("reflectors", 0) >= p["min_reflectors"] and f.get("replies", 0) >= p["min_packets"]
    heavy = f.get("reply_bps", 0) >= p["min_bps"]
    synack = f.get("synacks", 0) >= p["min_synack"] and f.get("synack_sources", 0) >= p["min_synack_sources"]
    return bool(replies or heavy or synack)


def _brute_force(p: dict[str, Any], f: dict[str, Any]) -> bool:
    attempts = 0 if f.get("periodic") else f.get("attempts", 0)   # a poller's clockwork checks are not guesses
    distributed = (f.get("distributed_sources", 0) >= p["min_distributed_sources"]
                   and f.get("distributed_attempts", 0) >= p["min_distributed_attempts"])
    return (attempts >= p["min_attempts"] or f.get("auth_failures", 0) >= p["min_auth_failures"]
            or f.get("login_posts", 0) >= p["min_login_posts"] or distributed)


def _http_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    requests = f.get("requests", 0)
    learned = f.get("learned_s", 0) >= p["warmup"]   # once the site's own rates are known, a lower floor
    floor = p["min_learned_requests_per_source"] if learned else p["min_requests_per_source"]
    if requests >= floor and requests >= p["source_factor"] * f.get("source_baseline", 0):
        return True
    rps = f.get("rps", 0)   # the whole site: only against a baseline learned for `warmup` seconds
    return bool(rps >= p["min_rps"] and rps >= p["factor"] * f.get("baseline_rps", 0)
                and f.get("learned_s", 0) >= p["warmup"])


def _volume_spike(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return (f.get("learned_s", 0) >= p["warmup"] and f.get("sustained_s", 0) >= p["sustain"]
            and f.get("pps", 0) >= p["min_pps"] and f.get("pps", 0) >= p["factor"] * f.get("baseline_pps", 0)
            and f.get("pps", 0) >= f.get("baseline_pps", 0) + p["z"] * f.get("baseline_std", 0))


def _outbound(p: dict[str, Any], f: dict[str, Any]) -> bool:
    scanning = f.get("distinct_hosts", 0) >= p["distinct_hosts"] or f.get("distinct_ports", 0) >= p["distinct_ports"]
    beacon = (f.get("beacon_count", 0) >= p["beacon_min_count"]
              and f.get("beacon_period_s", 0) >= p["beacon_min_period"]
              and f.get("beacon_cv", 1.0) <= p["beacon_max_cv"])
    return bool(scanning or beacon)


DECIDE: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "port_scan": _port_scan, "syn_flood": _syn_flood, "udp_flood": _udp_flood, "icmp_flood": _rate_flood,
    "reflection": _reflection, "brute_force": _brute_force, "http_flood": _http_flood,
    "volume_spike": _volume_spike, "outbound_anomaly": _outbound}
for _kind, _detector in REGISTRY.items():
    PARAMS[_kind] = dict(_detector.PARAMS)
    DECIDE[_kind] = _detector.decide


class TrafficRule(DetectorRule):
    """A loaded traffic detector rule (see govwatch.detector_rules)."""

    DECIDE = DECIDE


def _merge_params(kind: str, raw: Any) -> dict[str, Any]:
    defaults = PARAMS[kind]
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError("params must be a mapping of name: value")
    merged = dict(defaults)
    for name, value in raw.items():
        if name not in defaults:
            raise ValueError(f"params.{name}: unknown parameter for {kind} (known: {', '.join(sorted(defaults))})")
        want = defaults[name]
        if isinstance(want, list):
            if not isinstance(value, list):
                raise ValueError(f"params.{name}: must be a list")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"params.{name}: must be a non-negative number (got {value!r})")
        merged[name] = value
    return merged


def _check_body(raw: dict[str, Any]) -> None:
    kind = raw.get("detector")
    if kind not in KINDS:
        raise ValueError(f"detector: must be one of {', '.join(KINDS)} (got {kind!r})")
    params = _merge_params(kind, raw.get("params"))
    for cidr in params.get("beacon_ignore_nets", []):
        ipaddress.ip_network(str(cidr), strict=False)
    check_allow_and_tests(raw)


def load(directory: str | None = None) -> dict[str, TrafficRule]:
    """Load rules/traffic (or `directory`): kind -> rule; a kind with two enabled rules is refused."""
    return load_detectors("traffic", directory, _check_body, lambda kind, rule, allow: TrafficRule(
        kind, _merge_params(kind, rule.raw.get("params")), rule, allow))


def defaults() -> dict[str, TrafficRule]:
    """Rules with every default, for when no rule file is available (tests, benchmarks)."""
    out = {}
    for kind in KINDS:
        core = Rule(id=f"default-{kind}", title=kind, severity="medium", status="stable", source="traffic",
                    file="<defaults>", line=0, raw={"detector": kind})
        out[kind] = TrafficRule(kind, dict(PARAMS[kind]), core)
    return out
