"""Access-log detectors: login guessing, probing, web-shell use and floods by path and by source.

Everything per request is a few dict operations; probe and scanner verdicts are cached per distinct target
and user agent (a site serves few of each), and the automaton behind them (pyahocorasick) is linear in the
text. State is bounded: per-source tables, a path table with learned baselines, a (path, source) budget.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import ahocorasick

from .findings import Finding, Findings, Table
from .formats import Request, normalised
from .rules import LogRule

OTHER_PATH = "(other paths)"
MAX_CACHED = 512      # longer targets and user agents are judged afresh each time, not cached
MAX_PROBES = 32       # distinct probe targets counted per source (the rule needs 5)
RACE_SECONDS = 60.0   # a request this long before FIM's report of the file still counts as using it
MAX_TEXT = 200


def automaton(words: dict[str, list[str]]) -> ahocorasick.Automaton:
    """One Aho-Corasick automaton over every category's (lower-case) words; values are categories."""
    auto = ahocorasick.Automaton()
    for category, items in words.items():
        for word in items:
            auto.add_word(word.lower(), category)
    if len(auto) == 0:
        auto.add_word("\x00never\x00", "")
    auto.make_automaton()
    return auto


def sample(r: Request) -> dict[str, Any]:
    """A request as evidence: bounded text, no body."""
    return {"ts": r.ts, "src": r.src, "method": r.method[:16], "target": r.target()[:MAX_TEXT], "status": r.status,
            "ua": r.ua[:120]}


class WebDetector:
    """Feeds every access-log request through the detectors; findings go to `findings`."""

    def __init__(self, rules: dict[str, LogRule], findings: Findings, extra_login_paths: list[str] | None = None,
                 max_sources: int = 20000, max_cache: int = 65536) -> None:
        self.rules, self.findings = rules, findings
        self.brute, self.probe, self.shell = rules["web_brute_force"], rules["vuln_probe"], rules["webshell_use"]
        self.pflood, self.sflood, self.after = rules["path_flood"], rules["source_flood"], rules["login_after_guessing"]
        self.login = self._login_paths(list(self.brute.params["login_paths"]) + list(extra_login_paths or []))
        self.probes = automaton(self.probe.params["patterns"])
        self.scanners = automaton({"scanner": self.probe.params["scanner_agents"]})
        self.script_exts = {e.lower() for e in self.shell.params["script_exts"]}
        self.upload_dirs = {d.lower() for d in self.shell.params["upload_dirs"]}
        self.new_scripts: dict[str, tuple[str, float]] = {}   # url path -> (file path, created ts)
        self.recent_scripts: dict[str, deque[Request]] = {}  # url path -> its latest requests (FIM may be late)
        self.max_cache = max_cache
        self.probe_cache: dict[str, tuple[str, ...]] = {}
        self.ua_cache: dict[str, bool] = {}
        self.login_state = Table(max_sources)
        self.probe_state = Table(max_sources)
        self.shell_state = Table(1000)
        self.login_totals: dict[str, list[Any]] = {}
        self.flood = FloodCounter(self.pflood, self.sflood, findings, max_sources)
        self.requests = 0

    @staticmethod
    def _login_paths(entries: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for entry in entries:
            path, _, query = entry.lower().partition("?")
            out.setdefault(path, []).append(query)
        return out

    def learn_new_script(self, url_path: str, file_path: str, ts: float) -> None:
        """The FIM watcher reported `file_path` (served as `url_path`) newly created."""
        if len(self.new_scripts) >= 1000:
            horizon = ts - self.shell.params["new_file_memory"]
            self.new_scripts = {u: v for u, v in self.new_scripts.items() if v[1] >= horizon}
            if len(self.new_scripts) >= 1000:
                self.new_scripts.pop(next(iter(self.new_scripts)))
        self.new_scripts[url_path.lower()] = (file_path, ts)
        for r in self.recent_scripts.pop(url_path.lower(), ()):
            if r.ts >= ts - RACE_SECONDS:   # requested just before FIM's report reached us: judge it now
                self._script(r, url_path.lower())

    def feed(self, r: Request) -> None:
        self.requests += 1
        self.flood.count(r)
        path = r.path
        lower = path.lower()
        if r.method == "POST" and lower in self.login:
            self._login(r, lower)
        target = r.target()
        verdict = self.probe_cache.get(target)
        if verdict is None:
            verdict = self._probe_verdict(target)
        scanner = self.ua_cache.get(r.ua)
        if scanner is None:
            scanner = self._scanner(r.ua)
        if verdict or scanner:
            self._probe(r, target, verdict, scanner)
        dot = lower.rfind(".")
        if dot > 0 and lower[dot:] in self.script_exts:
            self._script(r, lower)

    # --- login guessing ---------------------------------------------------------------------------
    def _login(self, r: Request, lower: str) -> None:
        queries = self.login[lower]
        if "" not in queries and not any(r.query.lower().startswith(q) for q in queries):
            return
        p = self.brute.params
        state = self.login_state.get(r.src, r.ts, p["window"], lambda ts: [ts, 0, 0, 0.0])
        if state is None:
            return
        state[1] += 1
        if r.status in p["failure_status"]:
            state[2] += 1
            state[3] = r.ts
        elif r.status in self.after.params["success_status"]:
            self._after_guessing(r, state)
        features = {"attempts": state[1], **self._distributed(r, lower)}
        if self.brute.decide(features):
            src = r.src if features["attempts"] >= p["min_attempts"] else "many"
            evidence = {"path": r.path[:MAX_TEXT], "attempts": state[1], "failures": state[2],
                        "distributed": src == "many", "sources": features["sources"]}
            self._hit(self.brute, src, r, evidence, ("web_brute_force", src))

    def _distributed(self, r: Request, lower: str) -> dict[str, int]:
        total = self.login_totals.get(lower)
        if total is None or r.ts - total[0] > self.brute.params["window"]:
            total = self.login_totals[lower] = [r.ts, 0, set()]
        total[1] += 1
        if len(total[2]) < 10000:
            total[2].add(r.src)
        return {"distributed_attempts": total[1], "sources": len(total[2])}

    def _after_guessing(self, r: Request, state: list[Any]) -> None:
        features = {"accepted": True, "recent_failures": state[2], "seconds_since_failure": r.ts - state[3]}
        if self.after.decide(features):
            evidence = {"service": "web", "user": "-", "path": r.path[:MAX_TEXT], "recent_failures": state[2],
                        "seconds_since_failure": round(r.ts - state[3], 3)}
            self._hit(self.after, r.src, r, evidence, ("login_after_guessing", r.src))

    # --- probing ----------------------------------------------------------------------------------
    def _probe_verdict(self, target: str) -> tuple[str, ...]:
        found = tuple(sorted({cat for _end, cat in self.probes.iter(normalised(target)) if cat}))
        if len(target) <= MAX_CACHED:   # memory is bounded by count x length: long targets are not cached
            if len(self.probe_cache) >= self.max_cache:
                self.probe_cache.clear()
            self.probe_cache[target] = found
        return found

    def _scanner(self, ua: str) -> bool:
        found = next(self.scanners.iter(ua.lower()), None) is not None
        if len(ua) <= MAX_CACHED:
            if len(self.ua_cache) >= self.max_cache:
                self.ua_cache.clear()
            self.ua_cache[ua] = found
        return found

    def _probe(self, r: Request, target: str, verdict: tuple[str, ...], scanner: bool) -> None:
        p = self.probe.params
        state = self.probe_state.get(r.src, r.ts, p["window"], lambda ts: [ts, set(), set(), 0])
        if state is None:
            return
        if verdict and len(state[1]) < max(MAX_PROBES, p["min_probes"]):
            state[1].add(hash(target))      # distinct targets, counted by hash: 32 small ints per source at most
            state[2].update(verdict)
        if scanner:
            state[3] += 1
        features = {"probes": len(state[1]), "scanner_requests": state[3]}
        if self.probe.decide(features):
            evidence = {"probes": len(state[1]), "categories": sorted(state[2]), "scanner_requests": state[3],
                        "user_agent": r.ua[:120]}
            self._hit(self.probe, r.src, r, evidence, ("vuln_probe", r.src))

    # --- web shells -------------------------------------------------------------------------------
    def _script(self, r: Request, lower: str) -> None:
        p = self.shell.params
        created = self.new_scripts.get(lower)
        if created is not None and r.ts - created[1] > p["new_file_memory"]:
            created = None
        in_upload = any(part in self.upload_dirs for part in lower.split("/")[:-1])
        ok = 200 <= r.status < 400
        features = {"fim_created": created is not None and ok, "upload_post": in_upload and r.method == "POST",
                    "upload_script_served": in_upload and ok}
        if not any(features.values()):
            self._remember(r, lower)
            return
        state = self.shell_state.get(lower, r.ts, p["quiet"], lambda ts: [ts, 0, set()])
        if state is None:
            return
        state[1] += 1
        if len(state[2]) < 10:
            state[2].add(r.src)
        features["requests"] = state[1]
        if self.shell.decide(features):
            evidence = {"path": r.path[:MAX_TEXT], "file": created[0] if created else None, "requests": state[1],
                        "sources": sorted(state[2]), "fim_created": created is not None,
                        "in_upload_dir": in_upload}
            self._hit(self.shell, r.src, r, evidence, ("webshell_use", lower[:MAX_TEXT]))

    def _remember(self, r: Request, lower: str) -> None:
        """Keep the last few requests of each script path (bounded), for a FIM report arriving after them."""
        if len(lower) > MAX_TEXT:
            return
        recent = self.recent_scripts.get(lower)
        if recent is None:
            if len(self.recent_scripts) >= 2000:
                self.recent_scripts.clear()
            recent = self.recent_scripts[lower] = deque(maxlen=5)
        recent.append(Request(r.ts, r.src, r.method, r.path, r.query[:MAX_TEXT], r.status, r.size, "", r.ua[:120],
                              ""))     # trimmed: 2,000 paths x 5 requests stay small

    def _hit(self, rule: LogRule, src: str, r: Request, evidence: dict[str, Any], key: tuple[str, str]) -> None:
        if rule.allowed(src):
            return
        self.findings.hit(key, r.ts, lambda: new_finding(rule, src, r.ts), evidence, sample(r))

    def tick(self, now: float) -> None:
        self.flood.roll(now)


def new_finding(rule: LogRule, src: str, ts: float) -> Finding:
    return Finding(rule.kind, src, ts, ts, rule.rule.severity, float(rule.params["quiet"]),
                   evidence={"rule": rule.rule.id, "title": rule.rule.title})


class FloodCounter:
    """Requests per path and per source in fixed windows, against per-path EWMA baselines."""

    def __init__(self, pflood: LogRule, sflood: LogRule, findings: Findings, max_sources: int) -> None:
        self.pflood, self.sflood, self.findings = pflood, sflood, findings
        self.window = float(pflood.params["window"])
        self.max_paths = int(pflood.params["max_paths"])
        self.max_sources = max_sources
        self.max_pairs = 4 * max_sources
        self.baseline: dict[str, float] = {}
        self.window_end = -math.inf
        self.paths: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.pairs: dict[tuple[str, str], int] = {}
        self.distinct: dict[str, int] = {}

    def count(self, r: Request) -> None:
        if r.ts >= self.window_end:
            self.roll(r.ts)
        path = r.path if len(r.path) <= MAX_TEXT else r.path[:MAX_TEXT]
        paths = self.paths
        if path not in paths and len(paths) >= self.max_paths:
            path = OTHER_PATH
        paths[path] = paths.get(path, 0) + 1
        sources = self.sources
        if r.src in sources or len(sources) < self.max_sources:
            sources[r.src] = sources.get(r.src, 0) + 1
        pair = (path, r.src)
        seen = self.pairs.get(pair)
        if seen is None:
            self.distinct[path] = self.distinct.get(path, 0) + 1   # past the budget every pair counts as new
            if len(self.pairs) < self.max_pairs:
                self.pairs[pair] = 1
        else:
            self.pairs[pair] = seen + 1

    def roll(self, now: float) -> None:
        """Judge the window that ended, learn from it, start the next one."""
        if now < self.window_end:
            return
        if self.paths or self.sources:
            self._judge()
        missed = 0 if self.window_end == -math.inf else int((now - self.window_end) // self.window)
        self._learn(missed)
        self.window_end = (now // self.window + 1) * self.window
        self.paths, self.sources, self.pairs, self.distinct = {}, {}, {}, {}

    def _judge(self) -> None:
        pmin, smin = self.pflood.params["min_requests"], self.sflood.params["min_requests"]
        flooded = {}
        for path, count in self.paths.items():
            if count < pmin:
                continue
            features = {"requests": count, "baseline": self.baseline.get(path, 0.0),
                        "sources": self.distinct.get(path, 1)}
            if self.pflood.decide(features):
                flooded[path] = features
        tops = self._top_sources(set(flooded))
        for path, features in flooded.items():
            top = tops.get(path, [])
            evidence = {"path": path, "requests": features["requests"], "window_s": self.window,
                        "sources": features["sources"], "baseline": round(features["baseline"], 1),
                        "top_sources": top}
            self._hit(self.pflood, top[0][0] if len(top) == 1 else "many", evidence, ("path_flood", path))
        for src, count in self.sources.items():
            if count >= smin and self.sflood.decide({"requests": count}):
                evidence = {"requests": count, "window_s": self.window}
                self._hit(self.sflood, src, evidence, ("source_flood", src))

    def _top_sources(self, paths: set[str]) -> dict[str, list[tuple[str, int]]]:
        """The five busiest sources of each flooded path: one pass over the (bounded) pair table."""
        if not paths:
            return {}
        found: dict[str, list[tuple[str, int]]] = {p: [] for p in paths}
        for (path, src), n in self.pairs.items():
            if path in found:
                found[path].append((src, n))
        return {p: sorted(items, key=lambda item: -item[1])[:5] for p, items in found.items()}

    def _hit(self, rule: LogRule, src: str, evidence: dict[str, Any], key: tuple[str, str]) -> None:
        if rule.allowed(src):
            return
        end = self.window_end
        self.findings.hit(key, end, lambda: new_finding(rule, src, end - self.window), evidence, None)

    def load_baselines(self, saved: Any) -> None:
        """Per-path baselines saved by a previous run (bounded; anything malformed is ignored)."""
        if not isinstance(saved, dict):
            return
        for path, value in list(saved.items())[:self.max_paths]:
            if isinstance(path, str) and isinstance(value, int | float) and not isinstance(value, bool) \
                    and 0 <= value < 1e9:
                self.baseline[path[:MAX_TEXT]] = float(value)

    def _learn(self, missed: int) -> None:
        alpha = float(self.pflood.params["baseline_alpha"])
        baseline = self.baseline
        for path in list(baseline):
            baseline[path] *= (1 - alpha) ** (missed + (0 if path in self.paths else 1))
        for path, count in self.paths.items():
            old = baseline.get(path)
            if old is None:
                if len(baseline) >= self.max_paths:
                    continue
                baseline[path] = float(count) if count < self.pflood.params["min_requests"] else 0.0
            else:
                baseline[path] = old + alpha * (count - old)
