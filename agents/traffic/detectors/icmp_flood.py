"""icmp_flood: ICMP packets or bits per second to a protected host far above its learned rate."""

from __future__ import annotations

from typing import Any

from ..rates import RateFlood
from ..table import HostSecond, SecondTable, register


@register
class IcmpFlood(RateFlood):
    kind = "icmp_flood"
    label = "ICMP"
    PARAMS = {"min_pps": 200.0, "min_bps": 20e6, "factor": 5.0, "initial_baseline": 2.0, "baseline_alpha": 0.01,
              "quiet": 10.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        return RateFlood.decide(p, f)

    def counts(self, host: HostSecond) -> tuple[int, int]:
        return host.icmp, host.icmpb

    def per_source(self, table: SecondTable) -> dict[Any, int]:
        return table.src_icmp
