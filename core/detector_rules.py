"""Threshold detector rules, shared by the traffic and logs watchers.

A family of these (rules/traffic, rules/logs) has one enabled rule per detector kind: its parameters (merged over
the detector's defaults), an allow list of networks never reported, and feature tests that `test-rules` runs.
The house-style envelope (id, title, severity, tests) is read by `govwatch.rules.load_rules`; what is specific to
a family is only its kinds, their parameters and how each decides.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from govwatch.errors import ConfigError
from govwatch.rules import Rule, load_rules, rules_dir

Decide = Callable[[dict[str, Any], dict[str, Any]], bool]


@dataclass
class DetectorRule:
    """A loaded detector rule: its kind, merged parameters, exceptions and the core Rule record."""

    kind: str
    params: dict[str, Any]
    rule: Rule
    allow: list[Any] = field(default_factory=list)
    DECIDE: ClassVar[dict[str, Decide]] = {}   # kind -> decision; each family's subclass sets its own

    def decide(self, features: dict[str, Any]) -> bool:
        return self.DECIDE[self.kind](self.params, features)

    def allowed(self, address: str) -> bool:
        """True when `address` is on the rule's allow list (never reported)."""
        if not self.allow or not address or address == "many":
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.allow)


def check_allow_and_tests(raw: dict[str, Any]) -> None:
    """The parts of a detector rule's body every family checks alike (raises ValueError with the key)."""
    for cidr in raw.get("allow") or []:
        ipaddress.ip_network(str(cidr), strict=False)
    for index, test in enumerate(raw["tests"]):
        if not isinstance(test, dict) or test.get("expect") not in ("match", "no_match") \
                or not isinstance(test.get("features"), dict):
            raise ValueError(f"tests[{index}]: needs expect: match|no_match and features: {{...}}")


R = TypeVar("R", bound=DetectorRule)


def load_detectors(family: str, directory: str | None, check_body: Callable[[dict[str, Any]], None],
                   build: Callable[[str, Rule, list[Any]], R]) -> dict[str, R]:
    """Load rules/<family> (or `directory`): kind -> rule; a kind with two enabled rules is refused."""
    loaded: dict[str, R] = {}
    for rule in load_rules(rules_dir(family, directory), family, extra_keys={"detector", "params", "allow"},
                           check_body=check_body):
        kind = rule.raw["detector"]
        if kind in loaded:
            raise ConfigError(rule.file, "detector", f"a second enabled rule for {kind} "
                              f"(first in {loaded[kind].rule.file})", rule.line)
        allow = [ipaddress.ip_network(str(c), strict=False) for c in rule.raw.get("allow") or []]
        loaded[kind] = build(kind, rule, allow)
    return loaded


def self_test(rules: Mapping[str, DetectorRule]) -> list[str]:
    """Run every rule's own tests; return one failure line per test that disagrees."""
    failures = []
    for kind, detector in rules.items():
        for index, test in enumerate(detector.rule.tests):
            got = detector.decide(test["features"])
            if got != (test["expect"] == "match"):
                failures.append(f"{detector.rule.file}: tests[{index}] ({kind}): expected {test['expect']}, "
                                f"got {'match' if got else 'no_match'}")
    return failures


def add_test_rules_command(sub: argparse._SubParsersAction, family: str,
                           load: Callable[[str | None], Mapping[str, DetectorRule]]) -> None:
    """`govwatch <family> test-rules`: load the family's rules (malformed: file:line, exit 2) and run their tests."""
    test = sub.add_parser("test-rules", help=f"validate the {family} rules and run their own tests",
                          description="Loads every rule (refusing malformed ones at file:line) and runs each "
                          "rule's tests through the detector's decision function. Exit 0 all pass, 1 a test "
                          "failed, 2 a rule is malformed.")
    test.add_argument("--rules", metavar="DIR", help=f"{family} rules folder (default: the installed rules/{family})")

    def run(args: argparse.Namespace) -> int:
        rules = load(args.rules)
        failures = self_test(rules)
        for line in failures:
            sys.stdout.write(line + "\n")
        tests = sum(len(r.rule.tests) for r in rules.values())
        sys.stdout.write(f"{len(rules)} rules, {tests} tests, {len(failures)} failed\n")
        return 1 if failures else 0

    test.set_defaults(func=run)
