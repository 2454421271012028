"""outbound_anomaly: the server itself scanning (many hosts that never answer) or beaconing to the
internet (connections to one remote port like clockwork).

The engine raises `outbound_contact` for each connection (or new UDP flow) the server opens and
`outbound_answered` when the remote answers; clockwork calls inside the organisation (monitoring,
backups, cluster heartbeats) are not beacons.
"""

from __future__ import annotations

import statistics
from collections import deque
from ipaddress import ip_address, ip_network
from typing import Any

from ..packets import addr_text
from ..state import BoundedTable
from ..table import Detector, SecondTable, register

INTERNAL_NETS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10"]


class Fanout:
    """One protected host's outbound contacts in the window."""

    __slots__ = ("start", "hosts", "last", "answered")

    def __init__(self, ts: float) -> None:
        self.start = self.last = ts
        self.hosts: dict[Any, set[int]] = {}   # remote -> ports
        self.answered: set[Any] = set()        # remotes that answered


@register
class OutboundAnomaly(Detector):
    kind = "outbound_anomaly"
    PARAMS = {"window": 60.0, "distinct_hosts": 50, "distinct_ports": 25, "beacon_min_count": 8,
              "beacon_max_cv": 0.1, "beacon_min_period": 5.0, "ignore_ports": [53, 123],
              "beacon_ignore_nets": INTERNAL_NETS, "quiet": 60.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        scanning = (f.get("distinct_hosts", 0) >= p["distinct_hosts"]
                    or f.get("distinct_ports", 0) >= p["distinct_ports"])
        beacon = (f.get("beacon_count", 0) >= p["beacon_min_count"]
                  and f.get("beacon_period_s", 0) >= p["beacon_min_period"]
                  and f.get("beacon_cv", 1.0) <= p["beacon_max_cv"])
        return bool(scanning or beacon)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.outbound = BoundedTable(4096)   # home src -> Fanout
        self.beacons = BoundedTable(4096)    # (home, remote, port) -> deque of connection times
        self.ignore = [ip_network(str(c), strict=False) for c in self.p["beacon_ignore_nets"]]
        self.ignore_ports = set(self.p["ignore_ports"])

    def tables(self) -> list[Any]:
        return [self.outbound, self.beacons]

    def outbound_answered(self, home: Any, remote: Any) -> None:
        entry = self.outbound.get(home)
        if entry is not None and remote in entry.hosts and len(entry.answered) < 4096:
            entry.answered.add(remote)

    def outbound_contact(self, ts: float, src: Any, dst: Any, port: int) -> None:
        p = self.p
        entry = self.outbound.get(src)
        if entry is None or ts - entry.start > p["window"]:
            entry = self.outbound.put(src, Fanout(ts))
        ports = entry.hosts.get(dst)
        if ports is None and len(entry.hosts) < 4096:
            ports = entry.hosts[dst] = set()
        if ports is not None and len(ports) < 1024:
            ports.add(port)
        entry.last = ts
        if port in self.ignore_ports:
            return
        key = (src, dst, port)
        times = self.beacons.get(key)
        if times is None:
            times = self.beacons.put(key, deque(maxlen=int(p["beacon_min_count"]) * 2))
        if times and ts - times[-1] < 1.0:
            return  # a retransmitted SYN, not a new connection
        times.append(ts)

    def second(self, now: float, table: SecondTable) -> None:
        p = self.p
        for src, entry in list(self.outbound.items())[-64:]:
            if entry.last < now - 1.0:
                continue
            hosts = entry.hosts
            # a sweep hits mostly silent addresses; mail delivery, feeds and APIs answer
            silent = [h for h in hosts if h not in entry.answered] if len(hosts) >= p["distinct_hosts"] else []
            widest = max((len(v) for v in hosts.values()), default=0)
            features = {"distinct_hosts": len(silent), "distinct_ports": widest}
            evidence = {"pattern": "scanning", "distinct_hosts": len(hosts), "unanswered_hosts": len(silent),
                        "max_ports_per_host": widest,
                        "hosts_sample": [addr_text(h) for h in (silent or list(hosts))[:10]],
                        "explanation": f"this server opened connections to {len(hosts)} hosts ({len(silent)} never "
                        f"answered; up to {widest} ports on one) in {now - entry.start:.0f}s"}
            self.report(self.kind, now, addr_text(src), "many", evidence, features, entry.start,
                        (self.kind, src, "scan"))
        for (src, dst, port), times in list(self.beacons.items())[-256:]:
            if len(times) < p["beacon_min_count"] or times[-1] < now - 1.0 or self._internal(dst):
                continue
            gaps = [b - a for a, b in zip(times, list(times)[1:], strict=False)]
            period = statistics.fmean(gaps)
            cv = statistics.pstdev(gaps) / period if period > 0 else 1.0
            features = {"beacon_count": len(times), "beacon_period_s": period, "beacon_cv": cv}
            evidence = {"pattern": "beaconing", "remote": addr_text(dst), "port": port, "period_s": round(period, 2),
                        "jitter_cv": round(cv, 3), "connections": len(times), "explanation":
                        f"this server connects to {addr_text(dst)}:{port} every {period:.1f}s like clockwork"}
            self.report(self.kind, now, addr_text(src), addr_text(dst), evidence, features, times[0],
                        (self.kind, src, dst, port))

    def _internal(self, addr: Any) -> bool:
        """Clockwork calls inside the organisation are monitoring, backups and cluster heartbeats; a
        command-and-control server is out on the internet."""
        ip = ip_address(addr)
        return any(ip.version == net.version and ip in net for net in self.ignore)
