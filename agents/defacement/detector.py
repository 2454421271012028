"""Judge a page against its profile: run every sensor, combine their weights, explain the verdict.

Weights combine as independent evidence (noisy-or: 1 - prod(1 - w)), so two moderate signs (a new
title and half the page gone) add up while one weak sign (a new image host) never cries wolf. A page is
defaced at score >= 0.5. Without a profile the signatures and the page's build speak (the profile-free
check a watcher uses on a page it has never seen good: see structure.py).
"""

from __future__ import annotations

import difflib
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from govwatch.agents.defacement import evidence, sensors, signatures
from govwatch.agents.defacement.html import Page, parse
from govwatch.agents.defacement.profile import Profile, external_test, features
from govwatch.events import SEVERITY_RANK

THRESHOLD = 0.5
PAGE_BUDGET = 1.0     # seconds for all sensors of one page; the rest are skipped and the page is suspicious
SENSOR_BUDGET = 0.25  # seconds for one sensor (reported when exceeded)
MAX_DIFF_LINES = 80
MAX_DIFF_CHARS = 6000
_SENSORS = (sensors.signatures, sensors.new_domains, sensors.hidden_links, sensors.obfuscated_scripts,
            sensors.script_sources, sensors.hidden_frames, sensors.title, sensors.replacement, sensors.first_sight,
            evidence.comment_claims, evidence.dom_writing_scripts, evidence.overlays, evidence.unrelated_text,
            evidence.default_page)
_ACTIVE = {"redirect", "iframe", "obfuscation", "dom_write", "hidden_links", "comment", "overlay"}
_FIRST_SIGHT = (sensors.signatures, sensors.first_sight, evidence.comment_claims, evidence.default_page)


@dataclass
class Verdict:
    """The judgement of one page: defaced or not, how sure, how bad, and why."""

    defaced: bool
    score: float
    severity: str
    reasons: list[str]
    new_domains: list[str]
    text_diff: str
    title: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)
    maintenance: bool = False   # a planned-maintenance notice: not defaced, and not the page to learn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=8)
def _default_rules(directory: str | None = None) -> tuple:
    return tuple(signatures.load(directory))


def default_rules(directory: str | None = None) -> list:
    """The shipped (or configured) defacement rules, loaded once per process."""
    return list(_default_rules(directory))


def combine(findings: list[sensors.Finding]) -> float:
    remaining = 1.0
    for finding in findings:
        remaining *= 1.0 - min(0.99, max(0.0, finding.weight))
    return round(1.0 - remaining, 4)


def _severity(findings: list[sensors.Finding], score: float, defaced: bool) -> str:
    if not defaced:
        return "low" if score >= 0.2 else "info"
    strong = [f.severity for f in findings if f.weight >= 0.3] or ["medium"]
    worst = max(strong, key=lambda s: SEVERITY_RANK[s])
    if score >= 0.95 and SEVERITY_RANK[worst] < SEVERITY_RANK["high"]:
        worst = "high"
    if SEVERITY_RANK[worst] < SEVERITY_RANK["medium"]:
        worst = "medium"
    return worst


def text_diff(reference: list[str], page: Page) -> str:
    """Bounded unified diff of visible (and hidden) text: what an analyst reads first."""
    current = page.display or page.text + ["[hidden] " + t for t in page.hidden_text]
    lines: list[str] = []
    size = 0
    for line in difflib.unified_diff(reference, current[:2000], "known-good", "now", n=1, lineterm=""):
        line = line[:300]
        lines.append(line)
        size += len(line) + 1
        if len(lines) >= MAX_DIFF_LINES or size >= MAX_DIFF_CHARS:
            lines.append("... (diff truncated)")
            break
    return "\n".join(lines)


def _run(chosen: list | tuple, candidate: sensors.Candidate) -> list[sensors.Finding]:
    """Run sensors within the page and per-sensor budgets; going over is itself a finding (suspicious).

    A sensor cannot be interrupted in-process (see bounded.py for the hard deadline); this keeps one slow
    sensor from making the whole judgment slow, and says which one it was."""
    findings: list[sensors.Finding] = []
    start = last = time.monotonic()
    for index, sensor in enumerate(chosen):
        findings += sensor(candidate)
        now = time.monotonic()
        name = getattr(sensor, "__name__", "sensor")
        if now - last > SENSOR_BUDGET:
            findings.append(sensors.Finding("budget", 0.3, "medium", f"sensor {name} took {now - last:.2f} s "
                                                                     f"(budget {SENSOR_BUDGET:g} s)"))
        if now - start > PAGE_BUDGET and index + 1 < len(chosen):
            findings.append(sensors.Finding("budget", 0.5, "medium", f"judging stopped after {now - start:.2f} s "
                                            f"(page budget {PAGE_BUDGET:g} s): {len(chosen) - index - 1} sensors "
                                            f"not run on this page"))
            break
        last = now
    return findings


def judge(profile: Profile | None, html: str, url: str | None = None, rules: list | None = None,
          page: Page | None = None) -> Verdict:
    """Judge one HTML snapshot against a page profile (None: signatures only)."""
    page = page if page is not None else parse(html)
    rules = default_rules() if rules is None else rules
    profile = profile if profile is not None else Profile()
    feats = features(page)
    if profile.learned:
        fresh = sensors.new_scripts(page, profile, feats)
        rec = signatures.record(page, external_test(profile.host), feats.new_text(page, profile.text), fresh)
    else:
        fresh, rec = [], signatures.record(page, external_test(profile.host))
    candidate = sensors.Candidate(page, feats, profile, signatures.scan(rules, rec), fresh, rec, rules)
    hits = candidate.hits
    if profile.learned:
        findings = _run([*_SENSORS, lambda c: sensors.redirects(c, url)], candidate)
    else:
        findings = _run(_FIRST_SIGHT, candidate)
    findings.sort(key=lambda f: -f.weight)
    resting = evidence.maintenance(page, hits) and not any(f.sensor in _ACTIVE for f in findings)
    if resting:
        findings = [sensors.Finding("maintenance", 0.0, "info", "planned maintenance page: "
                                    f"'{(page.title or ' '.join(page.text[:1]))[:80]}'")]
    score = combine(findings)
    defaced = score >= THRESHOLD
    domains = sorted({d for f in findings for d in f.domains if f.sensor in ("domains", "hidden_links", "iframe",
                                                                              "redirect")})
    diff = text_diff(profile.reference, page) if score >= 0.2 and profile.learned else ""
    return Verdict(defaced=defaced, score=score, severity=_severity(findings, score, defaced),
                   reasons=[f.reason for f in findings], new_domains=domains, text_diff=diff,
                   title=page.display_title or page.title, findings=[asdict(f) for f in findings],
                   rule_ids=[hit.rule_id for hit in hits] + sensors.structure_ids(page)
                   + evidence.comment_rule_ids(page, rules), maintenance=resting)


_ATTACK_SENSORS = _ACTIVE | {"signature", "domains", "structure"}


def in_maintenance_window(verdict: Verdict) -> Verdict:
    """A verdict taken inside a declared maintenance window: a page that merely changed (replaced by a
    notice, a new layout, lost content) is `maintenance`; signs of an attack (claims, spam, redirects,
    hidden links, injected scripts or domains) still say defaced."""
    if not verdict.defaced or any(f["sensor"] in _ATTACK_SENSORS and f["weight"] >= 0.2 for f in verdict.findings):
        return verdict
    reason = "inside a declared maintenance window: " + "; ".join(verdict.reasons[:3])
    return replace(verdict, defaced=False, severity="info", maintenance=True, reasons=[reason])


__all__ = ["in_maintenance_window", "Verdict", "judge", "combine", "default_rules", "THRESHOLD"]
