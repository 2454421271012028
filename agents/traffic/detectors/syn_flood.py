"""syn_flood: a SYN rate far above the host's learned baseline while most handshakes never complete.

Judged per protected address (the victim: sources are usually spoofed) with a one-sided CUSUM whose
baseline learns only at rest, over the half-open ratio of the last five seconds, and wanting the SYNs
aimed at a port or coming from many sources (a SYN scan spreads over ports from one address).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..packets import addr_text
from ..rates import sources
from ..state import Cusum, top
from ..table import EMPTY_HOST, Detector, HostSecond, SecondTable, register


@register
class SynFlood(Detector):
    kind = "syn_flood"
    PARAMS = {"min_rate": 200.0, "min_half_open": 0.7, "cusum_threshold": 500.0, "initial_baseline": 10.0,
              "baseline_alpha": 0.01, "slack_ratio": 0.5, "slack_min": 20.0, "min_port_share": 0.5,
              "min_sources_spread": 100, "quiet": 10.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        return (f.get("syn_rate", 0) >= p["min_rate"] and f.get("cusum", 0) >= p["cusum_threshold"]
                and f.get("half_open_ratio", 0) >= p["min_half_open"]
                and (f.get("top_port_share", 0) >= p["min_port_share"]
                     or f.get("sources", 0) >= p["min_sources_spread"]))

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.cusums: dict[Any, Cusum] = {}
        self.history: deque[dict[Any, HostSecond]] = deque(maxlen=5)   # the last seconds' host counters

    def second(self, now: float, table: SecondTable) -> None:
        self.history.append(table.hosts)
        for dst in set(table.hosts) | set(self.cusums):
            self._judge(now, dst, table)

    def _judge(self, now: float, dst: Any, table: SecondTable) -> None:
        p = self.p
        cusum = self.cusums.get(dst)
        if cusum is None:
            if len(self.cusums) >= 256:
                return
            cusum = self.cusums[dst] = Cusum(p["baseline_alpha"], p["initial_baseline"], p["slack_ratio"],
                                             p["slack_min"])
        syns = table.hosts.get(dst, EMPTY_HOST).syn
        stat = cusum.update(syns)
        if syns < p["min_rate"]:
            return
        recent = [sec.get(dst, EMPTY_HOST) for sec in self.history]
        attempts = sum(c.syn for c in recent)
        done = sum(c.done for c in recent)
        half_open = 1.0 - min(done / attempts, 1.0) if attempts else 0.0
        ports = top(table.syn_ports, 3)
        share = ports[0][1] / max(sum(table.syn_ports.values()), 1) if ports else 0.0
        src, busiest, nsources = sources(table.src_syn, syns)
        features = {"syn_rate": syns, "cusum": stat, "half_open_ratio": half_open, "top_port_share": share,
                    "sources": nsources}
        evidence = {"syn_per_s": syns, "peak_syn_per_s": syns, "baseline_syn_per_s": round(cusum.base.mean, 1),
                    "cusum": round(stat, 1), "half_open_ratio": round(half_open, 3), "sources": nsources,
                    "top_sources": busiest, "top_ports": [{"port": port, "syns": n} for port, n in ports],
                    "explanation": f"{syns} SYN/s to {addr_text(dst)} (baseline {cusum.base.mean:.0f}/s), "
                                   f"{half_open:.0%} never completed, from {nsources} source(s)"}
        dst_text = addr_text(dst)
        self.report(self.kind, now, src, dst_text, evidence, features, None, (self.kind, dst_text))
