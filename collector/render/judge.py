"""Judge one render: the rendered DOM by the same defacement detector as the static view, plus the
sensors only a browser has: how different the screenshot looks, which new domains the page loaded at
run time, and where a visitor arriving from a search engine ends up.

Only the detector's public entry points are used (`judge`, `learn`, `Profile` JSON, `registrable`), so
the detector's internals can change underneath. The render sensors join the detector's score as more
independent evidence (noisy-or, like the detector's own sensors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from govwatch.agents.defacement.detector import THRESHOLD, judge
from govwatch.agents.defacement.profile import Profile, learn, registrable
from govwatch.collector.render import visual
from govwatch.collector.render.page import ACTIVE_TYPES, Render
from govwatch.events import SEVERITY_RANK

LEARN_RENDERS = 3
MAX_SAMPLE = 1_000_000
MAX_DOMAINS = 500
ACTIVE_WEIGHT = 0.6      # a new domain the page runs code or sends data to (skimmer, beacon)
PASSIVE_WEIGHT = 0.15    # a new image / font / style host: noted, rarely a sign alone
REFERRER_WEIGHT = 0.85


@dataclass
class Finding:
    sensor: str
    weight: float
    reason: str
    domains: list[str] = field(default_factory=list)


@dataclass
class RenderVerdict:
    """The rendered view's judgement; `dom` is the detector's own verdict of the rendered DOM."""

    defaced: bool
    score: float
    severity: str
    reasons: list[str]
    new_domains: list[str]
    title: str
    text_diff: str
    visual_difference: float | None
    nearest_shot: str | None
    findings: list[dict[str, Any]]
    dom_score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _site_domain(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    host = urlsplit(url or "").hostname
    return registrable(host) if host else None


def runtime_findings(render: Render, known: set[str] | None) -> list[Finding]:
    """New third-party domains the page loaded while running (None known = not learned yet: no finding)."""
    if known is None:
        return []
    own = {d for d in (_site_domain(render.url), _site_domain(render.final_url)) if d}
    active: dict[str, str] = {}
    passive: list[str] = []
    for host, kind in render.domains.items():
        domain = registrable(host)
        if domain in own or domain in known:
            continue
        if kind in ACTIVE_TYPES:
            active.setdefault(domain, kind.lower())
        elif domain not in passive:
            passive.append(domain)
    out = []
    if active:
        names = sorted(active)
        what = ", ".join(f"{d} ({active[d]})" for d in names[:5])
        out.append(Finding("runtime_domains", ACTIVE_WEIGHT, f"page loaded code or sent data to new domain(s) at "
                           f"run time: {what}", names))
    if passive:
        out.append(Finding("runtime_domains", PASSIVE_WEIGHT, "page loaded images/styles from new domain(s) at run "
                           f"time: {', '.join(sorted(passive)[:5])}", sorted(passive)))
    return out


def referrer_finding(render: Render) -> list[Finding]:
    """A visitor from a search engine sent elsewhere than a direct visitor: a referrer-only redirect."""
    plain, searched = _site_domain(render.final_url), _site_domain(render.referrer_final_url)
    own = _site_domain(render.url)
    if not searched or searched in (plain, own):
        return []
    return [Finding("referrer_redirect", REFERRER_WEIGHT, f"visitors from a search engine are sent to {searched} "
                    f"({render.referrer_final_url[:120]}); direct visitors stay on {plain}", [searched])]


def visual_finding(baseline: visual.Baseline, current: bytes | None) -> tuple[list[Finding], float | None, int]:
    if current is None or not baseline.learned:
        return [], None, -1
    difference, nearest = baseline.difference(current)
    weight = visual.weight(difference)
    if difference is None or not weight:
        return [], difference, nearest
    return [Finding("visual", weight, visual.reason(difference, len(baseline.prints)))], difference, nearest


def combine(dom_score: float, findings: list[Finding]) -> float:
    remaining = 1.0 - dom_score
    for finding in findings:
        remaining *= 1.0 - min(0.99, finding.weight)
    return round(1.0 - remaining, 4)


def _severity(dom_severity: str, score: float, defaced: bool, findings: list[Finding]) -> str:
    if not defaced:
        return "low" if score >= 0.2 else "info"
    worst = dom_severity if SEVERITY_RANK.get(dom_severity, 0) >= SEVERITY_RANK["medium"] else "medium"
    if any(f.sensor in ("referrer_redirect", "runtime_domains") and f.weight >= 0.5 for f in findings) or score >= 0.9:
        worst = worst if SEVERITY_RANK[worst] >= SEVERITY_RANK["high"] else "high"
    return worst


def judge_render(render: Render, profile: Profile | None, baseline: visual.Baseline, known: set[str] | None,
                 current: bytes | None, rules: list | None = None) -> RenderVerdict:
    """Judge a successful render against what the rendered page looked like when known good."""
    dom = judge(profile, render.dom, render.final_url or render.url, rules=rules)
    extra, difference, nearest = visual_finding(baseline, current)
    extra += runtime_findings(render, known) + referrer_finding(render)
    score = combine(dom.score, extra)
    defaced = score >= THRESHOLD
    reasons = [f.reason for f in sorted(extra, key=lambda f: -f.weight)] + list(dom.reasons)
    domains = sorted({*dom.new_domains, *(d for f in extra for d in f.domains if f.weight >= 0.5)})
    return RenderVerdict(defaced=defaced, score=score, severity=_severity(dom.severity, score, defaced, extra),
                         reasons=reasons[:30], new_domains=domains[:50], title=dom.title, text_diff=dom.text_diff,
                         visual_difference=difference,
                         nearest_shot=baseline.shots[nearest] if nearest >= 0 else None,
                         findings=[asdict(f) for f in extra] + list(dom.findings), dom_score=dom.score)


def known_domains(render: Render) -> set[str]:
    return {registrable(host) for host in render.domains}


def learn_profile(samples: list[str], url: str, rules: list | None = None) -> Profile:
    return learn([s[:MAX_SAMPLE] for s in samples], url, rules=rules)
