"""A stateful per-URL monitor: learns a page from its first good fetches, then reports state flips only.

Used by the agent watcher (one per site and view) and by the collector's external prober. The caller
fetches; the monitor judges. It learns from the first `learn_samples` fetches (a page already defaced at
first sight is still caught by the profile-free signature check and never learned), keeps refining the
volatile mask from later clean fetches, and applies hysteresis: `defaced_after` defaced verdicts in a row
(or one very sure one) to raise, `clean_after` clean verdicts in a row to clear, so a flapping page does
not spam. `to_dict()`/`from_dict()` carry everything across restarts (the caller stores it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from govwatch.agents.defacement.bounded import Inline
from govwatch.agents.defacement.detector import Verdict, default_rules, in_maintenance_window
from govwatch.agents.defacement.profile import Profile

SURE = 0.9          # a verdict this sure raises at once, whatever defaced_after says
REFINE_BELOW = 0.3  # only clearly clean pages teach the profile what varies
MAX_SAMPLE_BYTES = 2_000_000


@dataclass(frozen=True)
class Change:
    """The page's state flipped: now "defaced" or "clean" again, with the verdict that decided it."""

    site: str
    url: str
    state: str
    view: str
    verdict: Verdict
    at: float

    @property
    def severity(self) -> str:
        """The event severity: the verdict's when defaced, info when the page is clean again."""
        return self.verdict.severity if self.state == "defaced" else "info"

    def to_event_data(self, site: str | None = None, url: str | None = None) -> dict[str, Any]:
        """The `defacement` event payload the collector understands (site/url may be overridden)."""
        v = self.verdict
        return {"site": site or self.site, "url": url or self.url, "state": self.state, "view": self.view,
                "score": v.score, "reasons": v.reasons[:20], "new_domains": v.new_domains[:50],
                "diff": v.text_diff, "title": v.title}

    def summary(self) -> str:
        if self.state == "clean":
            return f"{self.site}: page is normal again ({self.view} view)"
        reasons = "; ".join(self.verdict.reasons[:3])
        return f"{self.site}: page defaced ({self.view} view, score {self.verdict.score:.2f}): {reasons}"[:480]


class SiteMonitor:
    """Judge successive fetches of one URL and report when its state flips."""

    def __init__(self, name: str, url: str, learn_samples: int = 3, rules: list | None = None,
                 view: str = "browser", defaced_after: int = 2, clean_after: int = 2,
                 profile: Profile | None = None, learns: bool = True, engine: Any = None) -> None:
        self.name, self.url, self.view = name, url, view
        self.learn_samples = max(1, learn_samples)
        self.defaced_after, self.clean_after = max(1, defaced_after), max(1, clean_after)
        self.rules = rules if rules is not None else default_rules()
        self.engine = engine if engine is not None else Inline(rules=self.rules)   # or a bounded.Pool
        self.profile = profile
        self.learns = learns          # False: judge only (a crawler view sharing the browser's profile)
        self.samples: list[str] = []
        self.current = "learning" if profile is None else "clean"
        self.bad = self.good = 0
        self.last_verdict: Verdict | None = None
        self.last_html: str | None = None
        self.last_seen = 0.0
        self.accept_next = False      # rebaseline asked before any fetch (e.g. just restarted)
        self.sheets: list[str] | None = None   # the linked stylesheets fetched with the last page

    @property
    def defaced(self) -> bool:
        return self.current == "defaced"

    def observe(self, html: str, status: int = 200, now: float | None = None,
                final_url: str | None = None, stylesheets: list[str] | None = None,
                maintenance_window: bool = False) -> Change | None:
        """Judge one fetch; return a Change only when the state flips (non-2xx answers are not judged).
        Inside a declared maintenance window a changed page is `maintenance` unless it shows an attack."""
        if not 200 <= status < 300:
            return None
        now = time.time() if now is None else now
        self.last_html, self.last_seen, self.sheets = html, now, stylesheets
        if self.accept_next:
            self.accept_next = False
            self._relearn(html)
            return None
        if self.profile is None or not self.profile.learned:
            verdict, _ = self.engine.judge(None, html, self.url, stylesheets)
            if not verdict.defaced and not verdict.maintenance and self.learns:
                self._add_sample(html)
        else:
            verdict, page = self.engine.judge(self.profile, html, final_url or self.url, stylesheets)
            if (self.learns and page is not None and not verdict.defaced and verdict.score < REFINE_BELOW
                    and not self.defaced and not verdict.maintenance):
                self.profile.add(page, verdict.rule_ids)
        if maintenance_window:
            verdict = in_maintenance_window(verdict)
        self.last_verdict = verdict
        return self._step(verdict, now)

    def _relearn(self, html: str) -> None:
        """Take `html` as the one known-good snapshot (rebaseline); learning stopped at the deadline
        leaves the monitor learning from the next fetches instead."""
        profile = self.engine.learn([html], self.url, self.sheets)
        self.profile, self.samples, self.current = profile, [], "clean" if profile is not None else "learning"
        self.last_verdict = self.engine.judge(profile, html, self.url, self.sheets)[0] if profile is not None else None

    def _add_sample(self, html: str) -> None:
        self.samples.append(html[:MAX_SAMPLE_BYTES])
        if len(self.samples) >= self.learn_samples:
            profile = self.engine.learn(self.samples, self.url, self.sheets)
            self.samples = []
            if profile is None:
                return
            self.profile = profile
            if self.current == "learning":
                self.current = "clean"

    def _step(self, verdict: Verdict, now: float) -> Change | None:
        if verdict.defaced:
            self.bad, self.good = self.bad + 1, 0
            if not self.defaced and (self.bad >= self.defaced_after or verdict.score >= SURE):
                self.current = "defaced"
                return Change(self.name, self.url, "defaced", self.view, verdict, now)
            return None
        self.good, self.bad = self.good + 1, 0
        if self.defaced and self.good >= self.clean_after:
            self.current = "clean" if self.profile is not None and self.profile.learned else "learning"
            return Change(self.name, self.url, "clean", self.view, verdict, now)
        return None

    def rebaseline(self, html: str | None = None, now: float | None = None) -> Change | None:
        """Accept the current page (or `html`) as the new known-good baseline; clears a defaced state."""
        html = html if html is not None else self.last_html
        was_defaced = self.defaced
        self.bad = self.good = 0
        if html is None and was_defaced:
            self.accept_next, self.current = True, "clean"   # nothing fetched yet: accept the next page
        elif html is None:
            self.profile, self.samples, self.current = None, [], "learning"
        else:
            self._relearn(html)
        if was_defaced:
            verdict = self.last_verdict
            return Change(self.name, self.url, "clean", self.view, verdict or _empty(), time.time() if now is None
                          else now)
        return None

    def state(self) -> dict[str, Any]:
        """Cheap status for APIs and heartbeats."""
        v = self.last_verdict
        return {"site": self.name, "url": self.url, "view": self.view, "state": self.current,
                "learned_snapshots": round(self.profile.n, 1) if self.profile else 0,
                "learning_samples": len(self.samples), "last_seen": self.last_seen,
                "score": v.score if v else None, "severity": v.severity if v else None,
                "maintenance": bool(v and v.maintenance),
                "reasons": v.reasons[:10] if v else []}

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "name": self.name, "url": self.url, "view": self.view, "state": self.current,
                "bad": self.bad, "good": self.good, "samples": self.samples,
                "profile": self.profile.to_dict() if self.profile else None,
                "last_verdict": self.last_verdict.to_dict() if self.last_verdict else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], rules: list | None = None, **options: Any) -> SiteMonitor:
        """Restore a monitor saved with to_dict(); `options` (learn_samples, ...) come from current config."""
        profile = Profile.from_dict(data["profile"]) if data.get("profile") else None
        monitor = cls(data["name"], data["url"], rules=rules, view=data.get("view", "browser"), profile=profile,
                      **options)
        monitor.current = data.get("state", monitor.current)
        monitor.bad, monitor.good = int(data.get("bad", 0)), int(data.get("good", 0))
        monitor.samples = list(data.get("samples") or [])[: monitor.learn_samples]
        if data.get("last_verdict"):
            monitor.last_verdict = Verdict(**data["last_verdict"])
        return monitor


def _empty() -> Verdict:
    return Verdict(defaced=False, score=0.0, severity="info", reasons=["accepted as the new baseline"],
                   new_domains=[], text_diff="", title="")
