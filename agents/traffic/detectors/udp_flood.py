"""udp_flood: UDP packets or bits per second to a protected host far above its learned rate.

A busy two-way UDP service (HTTP/3, a VPN) is loud too, so a loud second is asked whether the server
is answering most of those sources right now (the engine's recent outbound UDP flows): a spoofed or
one-way flood gets no answers. Queries to the server's own DNS service far above the rate learned for
`dns_warmup` seconds are a query flood even though they are answered.
"""

from __future__ import annotations

from typing import Any

from ..rates import RateFlood
from ..state import top
from ..table import HostSecond, SecondTable, register


@register
class UdpFlood(RateFlood):
    kind = "udp_flood"
    label = "UDP"
    PARAMS = {"min_pps": 1000.0, "min_bps": 50e6, "factor": 5.0, "initial_baseline": 10.0, "dns_min_share": 0.8,
              "dns_warmup": 60.0, "baseline_alpha": 0.01, "quiet": 10.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        """Loud one-way UDP is a flood; loud UDP the server answers is a busy service (HTTP/3, a VPN)
        unless it is queries to the server's own DNS far above the rate learned for `dns_warmup` seconds."""
        if not RateFlood.decide(p, f):
            return False
        if not f.get("answered"):
            return True
        return f.get("dns_share", 0) >= p["dns_min_share"] and f.get("learned_s", 0) >= p["dns_warmup"]

    def counts(self, host: HostSecond) -> tuple[int, int]:
        return host.udp, host.udpb

    def per_source(self, table: SecondTable) -> dict[Any, int]:
        return table.src_udp

    def features(self, now: float, table: SecondTable, features: dict[str, Any]) -> None:
        features["answered"] = self._conversation(table.src_udp, now)
        if features["answered"]:
            features["dns_share"] = table.udp_ports.get(53, 0) / max(sum(table.udp_ports.values()), 1)
            started = self.started()
            features["learned_s"] = now - (started if started is not None else now)

    def evidence(self, table: SecondTable, features: dict[str, Any], evidence: dict[str, Any]) -> None:
        evidence["top_ports"] = [{"port": port, "packets": n} for port, n in top(table.udp_ports, 3)]
        evidence["answered"] = bool(features.get("answered"))
        if evidence["answered"]:
            evidence["service"] = "dns"
            evidence["explanation"] += " (a query flood against the server's own DNS service)"

    def _conversation(self, per_source: dict[Any, int], now: float) -> bool:
        """Most of the second's UDP comes from clients the server answers over UDP right now. Only
        asked on loud seconds, so it may walk the table of recent outbound UDP flows."""
        recent = now - 2.0
        answered = {key[0] for key, ts in self.view.asked_udp.items() if ts >= recent}
        total = sum(per_source.values())
        return total > 0 and sum(n for src, n in per_source.items() if src in answered) >= 0.5 * total
