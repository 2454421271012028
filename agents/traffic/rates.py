"""Helpers the flood detectors share: the busiest sources of a per-source counter, and a rate flood
judged per protected address against that address's own learned baseline (UDP and ICMP floods)."""

from __future__ import annotations

from typing import Any

from .packets import addr_text
from .state import Ewma, top
from .table import EMPTY_HOST, OVERFLOW, Detector, HostSecond, SecondTable


def sources(per_source: dict[Any, int], total: int) -> tuple[str, list[dict[str, Any]], int]:
    """(reported source, top five sources, number of distinct sources) from one per-source counter:
    a single source is named only when it sent most (80 %) of `total`."""
    busiest = [(k, v) for k, v in top(per_source, 6) if k != OVERFLOW and v][:5]
    src = addr_text(busiest[0][0]) if busiest and total and busiest[0][1] >= 0.8 * total else "many"
    distinct = len(per_source) - (OVERFLOW in per_source)
    return src, [{"addr": addr_text(k), "packets": v} for k, v in busiest], distinct


class RateFlood(Detector):
    """Packets or bits per second to one protected address far above its learned rate (EWMA, learned
    only from seconds that were not judged a flood). Subclasses say which counters they read."""

    label = ""

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        loud = f.get("pps", 0) >= p["min_pps"] or f.get("bps", 0) >= p["min_bps"]
        return bool(loud and f.get("pps", 0) >= p["factor"] * f.get("baseline_pps", 0))

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.bases: dict[Any, Ewma] = {}

    def counts(self, host: HostSecond) -> tuple[int, int]:
        raise NotImplementedError

    def per_source(self, table: SecondTable) -> dict[Any, int]:
        raise NotImplementedError

    def features(self, now: float, table: SecondTable, features: dict[str, Any]) -> None:
        """Add what a subclass's rule needs beyond the rates (only asked on loud seconds)."""

    def evidence(self, table: SecondTable, features: dict[str, Any], evidence: dict[str, Any]) -> None:
        """Add a subclass's evidence fields."""

    def second(self, now: float, table: SecondTable) -> None:
        for dst in set(table.hosts) | set(self.bases):
            self._judge(now, dst, table)

    def _judge(self, now: float, dst: Any, table: SecondTable) -> None:
        p = self.p
        base = self.bases.get(dst)
        if base is None:
            if len(self.bases) >= 256:
                return
            base = self.bases[dst] = Ewma(p["baseline_alpha"], p["initial_baseline"])
        pkts, nbytes = self.counts(table.hosts.get(dst, EMPTY_HOST))
        features: dict[str, Any] = {"pps": pkts, "bps": nbytes * 8, "baseline_pps": base.mean}
        if RateFlood.decide(p, features):
            self.features(now, table, features)
        if not self.decide(p, features):
            base.update(pkts)
            return
        per_source = self.per_source(table)
        src, busiest, nsources = sources(per_source, pkts)
        evidence = {"packets_per_s": pkts, "peak_packets_per_s": pkts, "bits_per_s": nbytes * 8,
                    "peak_bits_per_s": nbytes * 8, "baseline_packets_per_s": round(base.mean, 1),
                    "avg_packet_bytes": round(nbytes / max(pkts, 1)), "sources": nsources, "top_sources": busiest,
                    "explanation": f"{pkts} {self.label} packets/s ({nbytes * 8 / 1e6:.1f} Mbit/s) to "
                                   f"{addr_text(dst)}, baseline {base.mean:.0f}/s, from {nsources} source(s)"}
        self.evidence(table, features, evidence)
        dst_text = addr_text(dst)
        self.report(self.kind, now, src, dst_text, evidence, features, None, (self.kind, dst_text))
