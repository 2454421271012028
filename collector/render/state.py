"""What the collector remembers of a site's rendered view: its learned DOM profile, known-good looks,
known run-time domains and its defaced/clean state with hysteresis.

The first `LEARN_RENDERS` renders that the profile-free check passes teach it (as the static monitor
learns from its first fetches); later clean renders add new known-good looks (a carousel's other
slides) and the domains they loaded. `defaced_after` defaced renders in a row raise, or one very
sure one; `clean_after` clean ones clear. Rebaseline forgets everything and accepts the next render begun
after it, so "accept as the new baseline" also accepts the new look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govwatch.agents.defacement.profile import Profile, ProfileError
from govwatch.collector.render import judge, visual
from govwatch.collector.render.page import Render

SURE = 0.8
ADD_LOOK_BELOW = 0.3       # only clearly clean renders teach a new look
NEW_LOOK_ABOVE = 0.02      # ...and only when they look a little different from every known one


@dataclass
class Outcome:
    """One judged render: the verdict, and the state flip it caused ('defaced', 'clean' or None)."""

    verdict: judge.RenderVerdict
    change: str | None
    learned: bool            # this render was taken as known-good


@dataclass
class SiteRender:
    name: str
    url: str
    profile: Profile | None = None
    samples: list[str] = field(default_factory=list)
    baseline: visual.Baseline = field(default_factory=visual.Baseline.empty)
    domains: set[str] = field(default_factory=set)
    current: str = "learning"
    bad: int = 0
    good: int = 0
    defaced_after: int = 2
    clean_after: int = 2
    accept_after: float | None = None   # rebaseline: the first render started after this is known-good
    generation: int = 0                 # bumped by rebaseline: a verdict from before it is not recorded after it

    @property
    def defaced(self) -> bool:
        return self.current == "defaced"

    def observe(self, render: Render, current: bytes | None, shot: str | None,
                rules: list | None = None) -> Outcome | None:
        """Judge a successful render and move the state; learn from it when it is clean (None: a stale render
        begun before a rebaseline, ignored)."""
        if self.accept_after is not None:
            if render.started < self.accept_after:
                return None     # begun before the rebaseline: it may show the page from before
            self.accept_after = None
            self.accept(render, current, shot, rules)
            return Outcome(judge.judge_render(render, self.profile, self.baseline, self.domains, current, rules),
                           None, True)
        learned_profile = self.profile is not None and self.profile.learned
        known = self.domains if learned_profile else None
        verdict = judge.judge_render(render, self.profile if learned_profile else None, self.baseline, known,
                                     current, rules)
        learned = False
        if not learned_profile:
            if not verdict.defaced:
                learned = self._learn(render, current, shot, rules)
            return Outcome(verdict, self._step(verdict), learned)
        if not verdict.defaced and verdict.score < ADD_LOOK_BELOW and not self.defaced:
            self.domains |= judge.known_domains(render)
            excess = len(self.domains) - judge.MAX_DOMAINS
            if excess > 0:
                self.domains = set(sorted(self.domains)[excess:])
            if current is not None and shot and (verdict.visual_difference or 0) > NEW_LOOK_ABOVE:
                self.baseline.add(current, shot)
                learned = True
        return Outcome(verdict, self._step(verdict), learned)

    def _learn(self, render: Render, current: bytes | None, shot: str | None, rules: list | None) -> bool:
        self.samples.append(render.dom[: judge.MAX_SAMPLE])
        self.domains |= judge.known_domains(render)
        if current is not None and shot:
            self.baseline.add(current, shot)
        if len(self.samples) >= judge.LEARN_RENDERS:
            self.profile = judge.learn_profile(self.samples, self.url, rules)
            self.samples = []
            if self.current == "learning":
                self.current = "clean"
        return current is not None and bool(shot)

    def _step(self, verdict: judge.RenderVerdict) -> str | None:
        if verdict.defaced:
            self.bad, self.good = self.bad + 1, 0
            if not self.defaced and (self.bad >= self.defaced_after or verdict.score >= SURE):
                self.current = "defaced"
                return "defaced"
            return None
        self.good, self.bad = self.good + 1, 0
        if self.defaced and self.good >= self.clean_after:
            self.current = "clean" if self.profile is not None else "learning"
            return "clean"
        return None

    def accept(self, render: Render, current: bytes | None, shot: str | None, rules: list | None = None) -> None:
        """Take a render as known-good whatever it looks like (an operator said so)."""
        self.samples = [*self.samples, render.dom[: judge.MAX_SAMPLE]][-judge.LEARN_RENDERS:]
        self.profile = judge.learn_profile(self.samples, self.url, rules)
        self.domains |= judge.known_domains(render)
        if current is not None and shot:
            self.baseline.add(current, shot)
        self.current, self.bad, self.good = "clean", 0, 0

    @property
    def pending(self) -> bool:
        """A defaced verdict not yet confirmed: worth rendering again at once."""
        return self.bad > 0 and not self.defaced

    def rebaseline(self, now: float) -> bool:
        """Forget the known-good DOM, looks and domains; the first render begun after `now` shows the page as
        accepted and becomes known-good, whatever it looks like (a legitimate redesign's new look)."""
        was = self.defaced
        self.profile, self.samples, self.baseline = None, [], visual.Baseline.empty()
        self.domains, self.current, self.bad, self.good = set(), "learning", 0, 0
        self.generation += 1
        self.accept_after = now
        return was

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "name": self.name, "url": self.url, "state": self.current, "bad": self.bad,
                "good": self.good, "samples": self.samples, "domains": sorted(self.domains),
                "profile": self.profile.to_dict() if self.profile else None, "baseline": self.baseline.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str, url: str) -> SiteRender:
        """Restore saved state; a malformed or foreign file starts learning again instead of failing."""
        state = cls(name, url)
        if not isinstance(data, dict) or data.get("version") != 1 or data.get("url") != url:
            return state
        try:
            state.profile = Profile.from_dict(data["profile"]) if data.get("profile") else None
        except (ProfileError, TypeError, KeyError):
            return state
        state.samples = [s for s in data.get("samples") or [] if isinstance(s, str)][: judge.LEARN_RENDERS]
        state.domains = {d for d in data.get("domains") or [] if isinstance(d, str)}
        state.baseline = visual.Baseline.from_dict(data.get("baseline"))
        state.current = data.get("state") if data.get("state") in ("learning", "clean", "defaced") else "learning"
        state.bad, state.good = int(data.get("bad") or 0), int(data.get("good") or 0)
        return state
