"""volume_spike: the packet rate far above the hour-of-week baseline, sustained.

The baselines (`Seasonal`, per hour of the week) are learned only from seconds that were not loud and
persist across agent restarts (`baseline()` / `load_baseline()`, saved by the live watcher). A loud
second that is mostly a few bulk transfers with peers the server is in a conversation with (package
downloads, an admin's scp) is neither a spike nor taught as normal.
"""

from __future__ import annotations

from typing import Any

from ..state import Seasonal, top
from ..table import Detector, SecondTable, register


@register
class VolumeSpike(Detector):
    kind = "volume_spike"
    PARAMS = {"warmup": 120.0, "z": 6.0, "factor": 4.0, "min_pps": 2000.0, "sustain": 5.0, "alpha": 0.01,
              "quiet": 30.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        return (f.get("learned_s", 0) >= p["warmup"] and f.get("sustained_s", 0) >= p["sustain"]
                and f.get("pps", 0) >= p["min_pps"] and f.get("pps", 0) >= p["factor"] * f.get("baseline_pps", 0)
                and f.get("pps", 0) >= f.get("baseline_pps", 0) + p["z"] * f.get("baseline_std", 0))

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.volume = Seasonal(self.p["alpha"], min_samples=600)
        self.volume_bps = Seasonal(self.p["alpha"], min_samples=600)
        self.run = 0.0
        self.learned_s = 0.0

    def baseline(self) -> dict[str, Any]:
        """What the live watcher saves (and `load_baseline` restores) across restarts."""
        return {"volume_pps": self.volume.to_dict(), "volume_bps": self.volume_bps.to_dict(),
                "learned_s": self.learned_s}

    def load_baseline(self, saved: dict[str, Any]) -> None:
        self.volume.load(saved.get("volume_pps", {}))
        self.volume_bps.load(saved.get("volume_bps", {}))
        self.learned_s = float(saved.get("learned_s", 0.0))

    def second(self, now: float, table: SecondTable) -> None:
        p = self.p
        pps, bps = table.pkts, table.bytes * 8
        base, base_bps = self.volume.baseline(now), self.volume_bps.baseline(now)
        loud = pps >= p["factor"] * base.mean and pps >= p["min_pps"]
        if loud and self._known_transfer(table):
            return   # a download, copy or upload with a peer the server talks to: neither a spike nor normal
        sustained = self.run + 1.0 if loud else 0.0
        features = {"pps": pps, "baseline_pps": base.mean, "baseline_std": base.std, "learned_s": self.learned_s,
                    "sustained_s": sustained}
        self.run = sustained
        if self.decide(p, features):
            evidence = {"packets_per_s": pps, "peak_packets_per_s": pps, "bits_per_s": bps, "peak_bits_per_s": bps,
                        "baseline_packets_per_s": round(base.mean, 1), "baseline_bits_per_s": round(base_bps.mean),
                        "sustained_s": sustained, "explanation": f"{pps} packets/s ({bps / 1e6:.1f} Mbit/s) for "
                        f"{sustained:.0f}s against a learned {base.mean:.0f} packets/s at this hour"}
            self.report(self.kind, now, "many", "many", evidence, features, now - sustained, (self.kind, "many"))
            return
        if not sustained:
            self.volume.update(now, pps)
            self.volume_bps.update(now, bps)
            self.learned_s += 1.0

    def _known_transfer(self, table: SecondTable) -> bool:
        """Most of the second's traffic is a few bulk transfers with peers in a two-way conversation the
        server opened (package downloads, its own uploads) or accepted with a full handshake (an admin's
        scp, a visitor's large download). Only asked on loud seconds, so it may walk the source counters."""
        inbound = sum(table.srcs.values())
        if inbound < 0.2 * table.pkts:
            return False   # one-way output from the server (or nothing seen coming back): judge it as volume
        busiest = top(table.srcs, 3)
        peers = self.view.peers
        return all(src in peers for src, _n in busiest) and sum(n for _s, n in busiest) >= 0.8 * inbound
