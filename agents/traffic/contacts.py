"""First contacts and probes: the per-source reconnaissance state the engine keeps on its fast path.

A mix-in of `Engine` (its methods run per packet, so they stay bound methods of the engine): every
first contact (a new SYN, a UDP datagram, a ping, an out-of-state ACK or FIN probe) lands in the
source's scan state, which `detect._port_scan` judges once a second. Out-of-state segments also go to
the second's feature table (`table.SecondTable`) that plug-in detectors such as tcp_flood read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import detect
from .packets import ACK, FIN, RST

if TYPE_CHECKING:
    from .state import BoundedTable
    from .table import SecondTable

# per-source scan state: first/last seen, contacted ports and hosts, outcomes, probe signals. A source
# seen for a single first contact only (every source of a spoofed flood) is kept as the compact tuple
# (first, last, port, host, failures) and becomes the full list on its second distinct contact.
SC_FIRST, SC_LAST, SC_PORTS, SC_HOSTS, SC_FAILED, SC_OK, SC_LLR, SC_UA, SC_ODD, SC_HERR, SC_HREQ, SC_FPORTS, \
    SC_PROBES = range(13)
# what a first contact was (SC_PROBES counts each): SYN, UDP datagram, lone ACK, FIN/NULL/Xmas, FIN+ACK, ping
P_SYN, P_UDP, P_ACK, P_STEALTH, P_MAIMON, P_PING = range(6)
MAX_SET = 1024


class Contacts:
    """The reconnaissance half of the engine's per-packet path."""

    scan: BoundedTable
    est: BoundedTable
    scan_window: float
    table: SecondTable
    near: set[int]
    trusted: set[Any]
    srcs: dict[Any, int]
    max_sources: int

    def neighbour(self, ts: float, src: int | bytes, dst: int | bytes, proto: int, sport: int, dport: int,
                  flags: int) -> None:
        """A packet from outside to another address of a home /24 (not itself protected): only its
        first contacts are kept, pings and SYNs, so a sweep of the whole network is seen. Nothing else
        of a neighbour's traffic is judged: the capture may hold a whole office's workstations, whose
        connections the engine does not follow."""
        if src.__class__ is int and src >> 8 in self.near or src in self.trusted:
            return
        if proto == 1:   # ICMP: type and code stand in for the ports
            if sport not in (8, 13, 128):
                return
            port, probe = -1, P_PING
        elif proto == 6 and flags & 0x17 == 0x02:   # a bare SYN
            port, probe = dport, P_SYN
        else:
            return
        srcs = self.srcs
        if src in srcs or len(srcs) < self.max_sources:   # judged this second with the other sources
            srcs[src] = srcs.get(src, 0) + 1
        self._contact(ts, src, dst, port, False, probe)

    def _stray(self, ts: float, key: Any, src: int | bytes, dst: int | bytes, dport: int, flags: int,
               who: int | bytes, data: bool) -> None:
        """An inbound segment outside every known connection: counted in the second's table (floods),
        and an empty lone ACK or FIN+ACK is a probe (ACK and Maimon scans map firewalls and open
        ports; a segment carrying data is a flow whose start the capture missed, or a flood).

        Each connection key counts once: it is known from then on, so a flow that began before the
        capture (or whose server half the capture never sees) is counted once, not for its lifetime,
        while flood tools change the source port (or address) with every segment."""
        self.est.put(key, ts)
        t = self.table
        t.stray += 1
        t.stray_dst[dst] = t.stray_dst.get(dst, 0) + 1
        t.stray_src[who] = t.stray_src.get(who, 0) + 1
        bits = flags & 0x3F
        t.stray_flags[bits] = t.stray_flags.get(bits, 0) + 1
        t.stray_ports[dport] = t.stray_ports.get(dport, 0) + 1
        if data:
            return
        if bits == ACK:
            self._contact(ts, src, dst, dport, False, P_ACK)
        elif bits == FIN | ACK:
            self._contact(ts, src, dst, dport, False, P_MAIMON)
        elif not flags & (ACK | RST):
            self._contact(ts, src, dst, dport, False, P_STEALTH)

    web_ports = frozenset((80, 443, 8080, 8443, 8000, 8888))

    def _contact(self, ts: float, src: int | bytes, dst: int | bytes, port: int, failed_now: bool,
                 probe: int = P_SYN) -> None:
        """A first contact from `src` to (dst, port) (port -1: a ping): feeds the distinct-port and host
        counts, the kinds of probe, and the random walk."""
        scan = self.scan
        st = scan.get(src)
        if st is None or ts - st[SC_LAST] > self.scan_window:
            if len(scan) >= scan.cap:
                scan.popitem(last=False)
                scan.evicted += 1
            scan[src] = (ts, ts, port, dst, 0)   # compact until a second distinct contact
            if failed_now:
                detect.trw_step(self, self.scan_state(src), False)
            return
        scan.move_to_end(src)
        if st.__class__ is tuple:
            if st[2] == port and st[3] == dst:
                scan[src] = (st[0], ts, port, dst, st[4])
                return
            st = self.scan_state(src)
        st[SC_LAST] = ts
        st[SC_PROBES][probe] += 1
        ports = st[SC_PORTS]
        if port not in ports and len(ports) < MAX_SET and port >= 0:
            ports.add(port)
            if failed_now:
                detect.trw_step(self, st, False)
        hosts = st[SC_HOSTS]
        if dst not in hosts and len(hosts) < MAX_SET:
            hosts.add(dst)

    def scan_state(self, src: int | bytes, create_at: float | None = None) -> list | None:
        """The full scan state list of `src` (expanding a compact one), created at `create_at` if asked."""
        st = self.scan.get(src)
        if st is None:
            if create_at is None:
                return None
            return self.scan.put(src, [create_at, create_at, set(), set(), 0, 0, 0.0, 0, 0, 0, 0, set(), [0] * 6])
        if st.__class__ is tuple:
            st = self.scan[src] = detect.expanded(self, st)   # same place in the recency order
        return st

    def _odd_flags(self, ts: float, src: int | bytes, flags: int) -> None:
        """NULL, FIN, Xmas and SYN+FIN probes: OS fingerprinting and stealth scans, never a real client."""
        st = self.scan_state(src, ts)
        st[SC_ODD] += 1
        st[SC_LAST] = ts
