"""sshd detectors: password guessing, invalid-user sweeps and a login that follows guessing.

One bounded table entry per source: window start, failures, users tried, unknown users, last failure.
A "Failed password for invalid user x" line is the failure; the "Invalid user x" line before it only names
the user, so one guess counts once.
"""

from __future__ import annotations

from typing import Any

from .auth import AuthRecord
from .findings import Findings, Table
from .rules import LogRule
from .web import new_finding

MAX_USERS = 64


def sample(record: AuthRecord) -> dict[str, Any]:
    return {"ts": record.ts, "src": record.src, "outcome": record.outcome, "user": record.user,
            "method": record.method}


class SshDetector:
    """Feeds sshd verdicts through the three SSH rules."""

    def __init__(self, rules: dict[str, LogRule], findings: Findings, max_sources: int = 20000) -> None:
        self.brute, self.sweep = rules["ssh_brute_force"], rules["ssh_user_sweep"]
        self.after = rules["login_after_guessing"]
        self.findings = findings
        self.window = max(float(self.brute.params["window"]), float(self.sweep.params["window"]))
        self.state = Table(max_sources)
        self.records = 0

    def feed(self, record: AuthRecord) -> None:
        self.records += 1
        state = self.state.get(record.src, record.ts, self.window, lambda ts: [ts, 0, set(), set(), 0.0])
        if state is None:
            return
        if record.outcome == "accepted":
            self._accepted(record, state)
            return
        if record.outcome == "failed" or record.method != "none":
            state[1] += 1
            state[4] = record.ts
            if len(state[2]) < MAX_USERS:
                state[2].add(record.user)
        if record.outcome == "invalid_user" and len(state[3]) < MAX_USERS:
            state[3].add(record.user)
        if self.brute.decide({"failures": state[1]}):
            evidence = {"service": "ssh", "failures": state[1], "users": sorted(state[2])[:10]}
            self._hit(self.brute, record, evidence)
        if record.outcome == "invalid_user" and self.sweep.decide({"invalid_users": len(state[3])}):
            evidence = {"service": "ssh", "invalid_users": len(state[3]), "users": sorted(state[3])[:10]}
            self._hit(self.sweep, record, evidence)

    def _accepted(self, record: AuthRecord, state: list[Any]) -> None:
        features = {"accepted": True, "recent_failures": state[1],
                    "seconds_since_failure": record.ts - state[4] if state[1] else 1e9}
        if self.after.decide(features):
            evidence = {"service": "ssh", "user": record.user, "method": record.method, "recent_failures": state[1],
                        "seconds_since_failure": round(features["seconds_since_failure"], 3)}
            self._hit(self.after, record, evidence)

    def _hit(self, rule: LogRule, record: AuthRecord, evidence: dict[str, Any]) -> None:
        if rule.allowed(record.src):
            return
        self.findings.hit((rule.kind, record.src), record.ts, lambda: new_finding(rule, record.src, record.ts),
                          evidence, sample(record))
