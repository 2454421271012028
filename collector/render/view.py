"""The collector's rendered view: the pool's renders judged per site, recorded as the 'render' view of
the site's defacement state, with screenshots as evidence, metrics rows and failure counters.

A render is recorded as a defacement view when its state flips, and also when it was asked for by the
static probe while the site has an open defacement incident: the incident then gets its picture
within a minute of being found, whatever the rendered view says.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.counters import Counts, add_counters, bump
from govwatch.collector.render import storage
from govwatch.collector.render.config import Decision
from govwatch.collector.render.page import Render
from govwatch.collector.render.pool import RenderPool
from govwatch.collector.render.state import SiteRender
from govwatch.collector.render.visual import VisualError, fingerprint

log = logging.getLogger("govwatch.collector.render")
SOURCE = "render"
FAILURES = "govwatch_render_failures_total"
SUSPICION = 0.2


class RenderView:
    """Owns the render pool, the per-site render state and the screenshot store."""

    def __init__(self, cfg: dict[str, Any], store: Any, decision: Decision) -> None:
        section = cfg["render"]
        self.cfg, self.store = cfg, store
        self.root = os.path.join(cfg["data_dir"], "render")
        self.shots = storage.ShotStore(os.path.join(self.root, "shots"), store, section["retention"],
                                       section["max_bytes"])
        self.sites = [s for s in cfg["sites"] if s.get("render", True)]
        self.states: dict[str, SiteRender] = {}
        self._lock = threading.Lock()
        self.pool = RenderPool(self.sites, decision.browser or "", self.handle, concurrency=section["concurrency"],
                               interval=section["interval"], budget=section["budget"], memory_cap=section["memory"])
        self._last_prune = 0.0

    def start(self) -> None:
        if self.sites:
            self.pool.start()
            log.info("rendering %d sites in headless Chromium", len(self.sites))

    def stop(self) -> None:
        self.pool.stop()

    # -- hooks from the static probe and the console --------------------------------------------------
    def follow(self, outside: Any) -> None:
        """Also get every static probe result: a change or a suspicion there asks for a render at once."""
        judged = outside.prober.on_result

        seen: dict[str, str] = {}

        def after(site: dict[str, Any], result: Any) -> None:
            if judged is not None:
                judged(site, result)
            monitor = outside.monitors.get(site["name"])
            verdict = getattr(monitor, "last_verdict", None)
            static = str(getattr(monitor, "current", ""))
            changed, seen[site["name"]] = seen.get(site["name"], static) != static, static
            if changed or (verdict is not None and verdict.score >= SUSPICION) or self._unsettled(site["name"]):
                self.pool.nudge(site["name"])

        outside.prober.on_result = after

    def _unsettled(self, name: str) -> bool:
        """The rendered view says defaced (or is confirming it): look again at each probe until it settles."""
        with self._lock:
            state = self.states.get(name)
            return state is not None and (state.defaced or state.pending)

    def rebaseline(self, name: str) -> None:
        """Accept the new look too: forget the known-good renders and learn from the next ones."""
        state = self._state(name)
        if state is None:
            return
        with self._lock:
            old = list(state.baseline.shots)
            state.rebaseline(time.time())
            self._save(state)
        self.shots.pin(old, False)
        with self.store.transaction() as conn:   # the rendered view is clean again, like the other views
            conn.execute("UPDATE defacement_state SET defaced=0, since=?, reasons='[]' WHERE site=? AND source=?",
                         (time.time(), name, SOURCE))
        self.pool.nudge(name)

    # -- results -------------------------------------------------------------------------------------
    def handle(self, site: dict[str, Any], render: Render, nudged: bool) -> None:
        """Judge one render, keep its evidence, record state, counters and (on a flip) the incident view."""
        state = self._state(site["name"])
        if state is None:
            return
        counts: Counts = {}
        if not render.ok:
            bump(counts, FAILURES, reason=render.reason or "browser")
            log.warning("render of %s failed (%s): %s", site["name"], render.reason, render.error)
            self._write(site, render, None, None, counts, None)
            return
        current, sha = self._fingerprint(site, render)
        with self._lock:
            outcome = state.observe(render, current, sha)
            generation = state.generation
            self._save(state)
        if outcome is None:   # begun before a rebaseline: render again, now
            self._write(site, render, sha, None, counts, None)
            self.pool.nudge(site["name"])
            return
        verdict = outcome.verdict
        if outcome.learned and sha:
            self.shots.pin([sha])
        view = None
        if outcome.change or (nudged and self._incident_open(site["name"])):
            if sha:
                self.shots.pin([sha])
            view = self._view_data(site, render, verdict, sha, outcome.change or state.current)
        with self._lock:   # a rebaseline since this verdict: the verdict is history, not the state
            view = view if generation == state.generation else None
            self._write(site, render, sha, verdict.visual_difference, counts, view and (view, verdict.severity))
        if state.pending:
            self.pool.nudge(site["name"])   # confirm a first defaced verdict now, not in ten minutes
        self._maybe_prune()

    def _fingerprint(self, site: dict[str, Any], render: Render) -> tuple[bytes | None, str | None]:
        if not render.screenshot:
            return None, None
        try:
            current = fingerprint(render.screenshot)
        except VisualError as exc:
            log.warning("screenshot of %s unreadable: %s", site["name"], exc)
            return None, None
        return current, self.shots.put(site["name"], render.screenshot)

    def _view_data(self, site: dict[str, Any], render: Render, verdict: Any, sha: str | None,
                   state: str) -> dict[str, Any]:
        defaced = state == "defaced"
        return {"site": site["name"], "url": render.final_url or site["url"], "state": "defaced" if defaced
                else "clean", "view": "rendered", "score": verdict.score, "reasons": verdict.reasons[:20],
                "new_domains": verdict.new_domains[:50], "diff": verdict.text_diff, "title": verdict.title,
                "screenshot": sha, "known_good_screenshot": verdict.nearest_shot,
                "visual_difference": verdict.visual_difference,
                "referrer_final_url": render.referrer_final_url}

    def _write(self, site: dict[str, Any], render: Render, sha: str | None, difference: float | None,
               counts: Counts, view: tuple[dict[str, Any], str] | None) -> None:
        now = time.time()
        with self.store.transaction() as conn:
            storage.record_state(conn, site["name"], now, render.ok, render.reason, render.duration, difference,
                                 sha, render.final_url, render.error)
            if view is not None:
                data, severity = view
                incidents.record_defacement(conn, SOURCE, None, data, severity if data["state"] == "defaced"
                                            else "info", now, now, counts, self.store.joining)
            add_counters(conn, counts)
        if view is not None:
            log.warning("site %s is %s in the rendered view (score %s)", site["name"], view[0]["state"],
                        view[0]["score"])

    def _incident_open(self, name: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM incidents WHERE key=? AND status!='resolved' LIMIT 1",
                                     (f"defacement:{name}",)))

    def _maybe_prune(self) -> None:
        if time.time() - self._last_prune < 600:
            return
        self._last_prune = time.time()
        keep = {r["screenshot"] for r in storage.last_renders(self.store) if r["screenshot"]}
        self.shots.prune(keep)

    # -- per-site state on disk ---------------------------------------------------------------------
    def _state(self, name: str) -> SiteRender | None:
        site = next((s for s in self.sites if s["name"] == name), None)
        if site is None:
            return None
        with self._lock:
            state = self.states.get(name)
            if state is None:
                state = SiteRender.from_dict(self._load(name), name, site["url"])
                self.states[name] = state
            return state

    def _path(self, name: str) -> str:
        return os.path.join(self.root, "state", f"{name}.json")

    def _load(self, name: str) -> Any:
        try:
            with open(self._path(name), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _save(self, state: SiteRender) -> None:
        os.makedirs(os.path.dirname(self._path(state.name)), exist_ok=True)
        tmp = self._path(state.name) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state.to_dict(), handle)
        os.replace(tmp, self._path(state.name))


def build(cfg: dict[str, Any], store: Any, outside: Any) -> RenderView | None:
    """The rendered view if rendering is on (logging why not otherwise), following the static probe."""
    from govwatch.collector.render.config import decide
    from govwatch.errors import GovwatchError

    decision = decide(cfg)
    if decision.problem:
        raise GovwatchError(decision.line.replace("rendering: off", "render.enabled is true but rendering "
                                                                    "cannot run"))
    log.info("%s", decision.line)
    if not decision.on:
        return None
    view = RenderView(cfg, store, decision)
    if outside is not None:
        view.follow(outside)
    return view
