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

# the traffic anomaly kinds, one detector module each (detectors/), in the contract's order
ORDER = ("port_scan", "syn_flood", "udp_flood", "icmp_flood", "reflection", "brute_force", "http_flood",
         "volume_spike", "outbound_anomaly")
KINDS = tuple(k for k in ORDER if k in REGISTRY) + tuple(k for k in REGISTRY if k not in ORDER)

# kind -> {param: default}; a rule may override any of these and nothing else.
PARAMS: dict[str, dict[str, Any]] = {kind: dict(REGISTRY[kind].PARAMS) for kind in KINDS}
DECIDE: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {kind: REGISTRY[kind].decide for kind in KINDS}


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
