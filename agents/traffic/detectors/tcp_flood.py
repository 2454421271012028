"""tcp_flood: floods of ACK, RST, FIN, PSH+ACK or odd-flag segments that belong to no known connection.

A SYN flood fills the backlog; an ACK/RST/FIN flood instead makes the kernel (and any stateful
firewall) look up every segment and answer many of them with RSTs. The engine counts inbound segments
outside every connection it knows (the per-second table's `stray_*`); this detector compares each
protected address's rate with its own learned baseline (EWMA, learned only in quiet seconds, so a long
flood does not teach itself) and, like the SYN flood rule, wants the segments aimed at a port or coming
from many (spoofed) sources, because a fast ACK scan spreads over ports from one address instead (that
is `port_scan`, scan_type "ACK scan"). The first `warmup` seconds of a capture are not judged: packets of
connections opened before the capture started look out-of-state until the server's own segments are seen.
"""

from __future__ import annotations

from typing import Any

from ..packets import ACK, FIN, PSH, RST, SYN, URG, addr_text
from ..state import Ewma, top
from ..table import Detector, SecondTable, register

FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG"))
OVERFLOW = b""   # the engine's shared counter of sources beyond max_sources


def flag_text(flags: int) -> str:
    """'PSH+ACK', 'RST', 'NULL' (no flag), 'FIN+PSH+URG' (Xmas)."""
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    return "+".join(names) if names else "NULL"


@register
class TcpFlood(Detector):
    kind = "tcp_flood"
    PARAMS = {"min_pps": 300.0, "factor": 5.0, "initial_baseline": 10.0, "baseline_alpha": 0.01,
              "min_port_share": 0.5, "min_sources_spread": 100, "spoofed_sources": 100, "warmup": 5.0,
              "quiet": 10.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        pps = f.get("pps", 0)
        return bool(f.get("learned_s", 0) >= p["warmup"] and pps >= p["min_pps"]
                    and pps >= p["factor"] * f.get("baseline_pps", 0)
                    and (f.get("top_port_share", 0) >= p["min_port_share"]
                         or f.get("sources", 0) >= p["min_sources_spread"]))

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.bases: dict[Any, Ewma] = {}
        self.totals: dict[Any, list[float]] = {}   # victim -> [flood start, segments so far] while loud

    def second(self, now: float, table: SecondTable) -> None:
        for dst in set(table.stray_dst) | set(self.bases):
            self._judge(now, dst, table.stray_dst.get(dst, 0), table)

    def _judge(self, now: float, dst: Any, pps: int, table: SecondTable) -> None:
        p = self.p
        base = self.bases.get(dst)
        if base is None:
            if len(self.bases) >= 256:
                return
            base = self.bases[dst] = Ewma(p["baseline_alpha"], p["initial_baseline"])
        ports = top(table.stray_ports, 3)
        share = ports[0][1] / max(table.stray, 1) if ports else 0.0
        sources = len(table.stray_src) - (OVERFLOW in table.stray_src)
        started = self.started()
        features = {"pps": pps, "baseline_pps": base.mean, "top_port_share": share, "sources": sources,
                    "learned_s": now - started if started is not None else 0.0}
        if not self.decide(p, features):
            self.totals.pop(dst, None)
            if features["learned_s"] >= p["warmup"]:
                base.update(pps)
            return
        running = self.totals.setdefault(dst, [now - 1.0, 0])
        running[1] += pps
        src, dst_text, evidence = self._evidence(dst, pps, int(running[1]), base, table, ports, sources)
        self.report(self.kind, now, src, dst_text, evidence, features, running[0])

    def _evidence(self, dst: Any, pps: int, total: int, base: Ewma, table: SecondTable,
                  ports: list[tuple[int, int]], sources: int) -> tuple[str, str, dict[str, Any]]:
        busiest = [(k, v) for k, v in top(table.stray_src, 6) if k != OVERFLOW][:5]
        spoofed = sources >= self.p["spoofed_sources"] and (not busiest or busiest[0][1] < 0.05 * pps)
        single = bool(busiest) and busiest[0][1] >= 0.8 * pps
        src = addr_text(busiest[0][0]) if single else "many"
        flags = [{"flags": flag_text(f), "packets": n} for f, n in top(table.stray_flags, 4)]
        who = f"spoofed, {sources} sources" if spoofed else (src if single else f"{sources} sources")
        evidence = {
            "flags": flags, "packets_per_s": pps, "peak_packets_per_s": pps, "total_packets": total,
            "baseline_packets_per_s": round(base.mean, 1), "sources": sources, "spoofed": spoofed,
            "top_sources": [{"addr": addr_text(k), "packets": v} for k, v in busiest],
            "top_ports": [{"port": port, "packets": n} for port, n in ports],
            "explanation": f"{pps} out-of-state TCP segments/s ({'/'.join(f['flags'] for f in flags)}) to "
                           f"{addr_text(dst)}, baseline {base.mean:.0f}/s, from {who}"}
        return src, addr_text(dst), evidence
