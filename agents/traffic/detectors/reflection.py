"""reflection: amplified replies nobody asked for (DNS, NTP, SNMP, SSDP, memcached, ...) or unsolicited
SYN-ACKs, summed over a window, from many reflectors or at a high bit rate.

The engine counts a UDP datagram from a reflection service port as a reply nobody asked for unless the
server itself sent to that (address, port) recently, and a SYN-ACK that answers no SYN of the server's.
"""

from __future__ import annotations

from typing import Any

from ..packets import addr_text
from ..state import top
from ..table import OVERFLOW, Detector, SecondTable, register

REFLECTION_PORTS = {19: "chargen", 53: "dns", 123: "ntp", 137: "netbios", 161: "snmp", 389: "cldap",
                    500: "ike", 520: "rip", 1900: "ssdp", 3283: "ard", 3702: "ws-discovery", 5353: "mdns",
                    10001: "ubiquiti", 11211: "memcached"}


@register
class Reflection(Detector):
    kind = "reflection"
    PARAMS = {"ports": sorted(REFLECTION_PORTS), "window": 10.0, "min_reflectors": 10, "min_packets": 50,
              "min_bps": 8e6, "min_synack": 100, "min_synack_sources": 5, "quiet": 15.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        replies = f.get("reflectors", 0) >= p["min_reflectors"] and f.get("replies", 0) >= p["min_packets"]
        heavy = f.get("reply_bps", 0) >= p["min_bps"]
        synack = f.get("synacks", 0) >= p["min_synack"] and f.get("synack_sources", 0) >= p["min_synack_sources"]
        return bool(replies or heavy or synack)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._reset(0.0)

    def _reset(self, start: float) -> None:
        self.start = start
        self.reflectors: dict[Any, int] = {}
        self.synack_srcs: dict[Any, int] = {}
        self.replies = self.reply_bytes = self.synacks = 0
        self.ports: set[int] = set()

    def second(self, now: float, table: SecondTable) -> None:
        if now - self.start > self.p["window"]:
            self._reset(now - 1.0)
        self.ports.update(table.refl_ports)
        reflectors, synack_srcs = self.reflectors, self.synack_srcs
        for src, n in table.src_reflb.items():
            if n and src != OVERFLOW:
                reflectors[src] = reflectors.get(src, 0) + n
        for src, n in table.src_synack.items():
            if src != OVERFLOW:
                synack_srcs[src] = synack_srcs.get(src, 0) + n
        victims: dict[Any, int] = {}
        for dst, c in table.hosts.items():
            self.replies += c.refl
            self.reply_bytes += c.reflb
            self.synacks += c.synack
            if c.reflb or c.synack:
                victims[dst] = c.reflb + c.synack
        if victims:
            self._judge(now, victims)

    def _judge(self, now: float, victims: dict[Any, int]) -> None:
        elapsed = max(now - self.start, 1.0)
        features = {"replies": self.replies, "reflectors": len(self.reflectors),
                    "reply_bps": self.reply_bytes * 8 / elapsed, "synacks": self.synacks,
                    "synack_sources": len(self.synack_srcs)}
        if not self.decide(self.p, features):
            return
        dst = addr_text(top(victims, 1)[0][0])
        services = sorted({REFLECTION_PORTS.get(port, str(port)) for port in self.ports})
        if self.synacks:
            services.append("tcp-synack")
        busiest = top(self.reflectors or self.synack_srcs, 5)
        evidence = {"services": services, "replies": self.replies,
                    "reply_bits_per_s": round(features["reply_bps"]),
                    "peak_reply_bits_per_s": round(features["reply_bps"]), "reflectors": len(self.reflectors),
                    "unsolicited_synacks": self.synacks, "synack_sources": len(self.synack_srcs),
                    "avg_reply_bytes": round(self.reply_bytes / max(self.replies, 1)),
                    "top_reflectors": [{"addr": addr_text(k), "bytes": v} for k, v in busiest],
                    "explanation": f"{self.replies} unsolicited {'/'.join(services)} replies "
                                   f"({features['reply_bps'] / 1e6:.2f} Mbit/s) from {len(self.reflectors)} "
                                   f"reflectors and {self.synacks} unsolicited SYN-ACKs in {elapsed:.0f}s"}
        src = "many" if len(busiest) > 1 else addr_text(busiest[0][0])
        self.report(self.kind, now, src, dst, evidence, features, None, (self.kind, dst))
