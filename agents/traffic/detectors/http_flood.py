"""http_flood: one source far above what the busiest source usually sends, or the site's total request
rate far above its learned baseline.

Per source, requests (HTTP request heads) and connections (completed handshakes to web ports, which
count HTTPS too) are summed over `window`; after each window the busiest source's count teaches what
the busiest source usually sends (a ministry office's NAT gateway is always busy), unless it was itself
a flood. Before `warmup` seconds a source needs `min_requests_per_source`, after it the lower
`min_learned_requests_per_source`: a client at 30-100 requests/s on a site that usually sees 5 is found.
The site's total is judged only against a baseline learned for `warmup` seconds (a capture starting at
the daily peak is not a flood).
"""

from __future__ import annotations

from typing import Any

from ..packets import addr_text
from ..report import home_text
from ..state import Ewma, top
from ..table import OVERFLOW, Detector, SecondTable, register


@register
class HttpFlood(Detector):
    kind = "http_flood"
    PARAMS = {"window": 10.0, "min_requests_per_source": 1000, "min_learned_requests_per_source": 200,
              "source_factor": 5.0, "initial_source_baseline": 20.0, "source_baseline_alpha": 0.1,
              "min_rps": 500.0, "factor": 5.0, "baseline_alpha": 0.01, "initial_baseline": 20.0, "warmup": 60.0,
              "quiet": 15.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        requests = f.get("requests", 0)
        learned = f.get("learned_s", 0) >= p["warmup"]   # once the site's own rates are known, a lower floor
        floor = p["min_learned_requests_per_source"] if learned else p["min_requests_per_source"]
        if requests >= floor and requests >= p["source_factor"] * f.get("source_baseline", 0):
            return True
        rps = f.get("rps", 0)   # the whole site: only against a baseline learned for `warmup` seconds
        return bool(rps >= p["min_rps"] and rps >= p["factor"] * f.get("baseline_rps", 0)
                    and f.get("learned_s", 0) >= p["warmup"])

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        p = self.p
        self.base = Ewma(p["baseline_alpha"], p["initial_baseline"])
        self.source_base = Ewma(p["source_baseline_alpha"], p["initial_source_baseline"])
        self.start = 0.0
        self.reqs: dict[Any, int] = {}    # requests per source in the window
        self.conns: dict[Any, int] = {}   # web connections per source in the window

    def second(self, now: float, table: SecondTable) -> None:
        p = self.p
        started = self.started()
        learned = now - (started if started is not None else now)
        if now - self.start > p["window"]:
            self._learn_busiest_source(learned)
            self.start, self.reqs, self.conns = now - 1.0, {}, {}
        _add(self.reqs, table.src_reqs, self.view.max_sources)
        _add(self.conns, table.web_conns, self.view.max_sources)
        self._per_source(now, learned)
        rps = sum(table.src_reqs.values())
        features = {"rps": rps, "baseline_rps": self.base.mean, "learned_s": learned}
        if not self.decide(p, features):
            self.base.update(rps)
            return
        evidence = {"requests_per_s": rps, "baseline_rps": round(self.base.mean, 1), "top_sources":
                    [{"addr": addr_text(k), "requests": v} for k, v in top(self.reqs, 5)],
                    "explanation": f"{rps} HTTP requests/s against a baseline of {self.base.mean:.0f}/s"}
        self.report(self.kind, now, "many", home_text(self.view), evidence, features, None, (self.kind, "many"))

    def _per_source(self, now: float, learned: float) -> None:
        p, reqs, conns = self.p, self.reqs, self.conns
        elapsed, usual = now - self.start, self.source_base.mean
        floor = min(p["min_requests_per_source"], p["min_learned_requests_per_source"])
        for src in set(reqs) | set(conns):
            count = max(reqs.get(src, 0), conns.get(src, 0))
            if count < floor:
                continue
            evidence = {"requests": reqs.get(src, 0), "connections": conns.get(src, 0),
                        "window_s": round(elapsed, 1), "requests_per_s": round(count / max(elapsed, 1.0), 1),
                        "usual_busiest_source_requests": round(usual, 1), "explanation":
                        f"{addr_text(src)} sent {count} HTTP requests/connections in {elapsed:.0f}s "
                        f"(the busiest source usually sends {usual:.0f})"}
            features = {"requests": count, "source_baseline": usual, "learned_s": learned}
            self.report(self.kind, now, addr_text(src), home_text(self.view), evidence, features, self.start,
                        (self.kind, src))

    def _learn_busiest_source(self, learned: float) -> None:
        """After each window, learn how much the busiest source usually sends, unless that window's
        busiest source was itself reported as a flood."""
        reqs, conns = self.reqs, self.conns
        busiest = max((max(reqs.get(s, 0), conns.get(s, 0)) for s in set(reqs) | set(conns)), default=0)
        features = {"requests": busiest, "source_baseline": self.source_base.mean, "learned_s": learned}
        if not self.decide(self.p, features):
            self.source_base.update(busiest)


def _add(into: dict[Any, int], second: dict[Any, int], cap: int) -> None:
    """Sum one second's per-source counts into the window's (sources beyond the cap are not stored)."""
    for src, n in second.items():
        if src in into:
            into[src] += n
        elif src != OVERFLOW and len(into) < cap:
            into[src] = n
