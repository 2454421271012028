"""First contacts and out-of-state segments: the reconnaissance half of the engine's per-packet path.

A mix-in of `Engine` (its methods run per packet, so they stay bound methods of the engine): every
first contact (a new SYN, a UDP datagram, a ping, an out-of-state ACK or FIN probe) is raised as the
`contact` hook (port_scan keeps the per-source state), and its outcome (answered, refused, unanswered
within the timeout) as `outcome`. Out-of-state segments go to the second's feature table
(`table.SecondTable`) that tcp_flood reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .packets import ACK, FIN, RST
from .table import P_ACK, P_MAIMON, P_PING, P_STEALTH, P_SYN

if TYPE_CHECKING:
    from .state import BoundedTable
    from .table import SecondTable


class Contacts:
    """The reconnaissance half of the engine's per-packet path."""

    est: BoundedTable
    halfopen: BoundedTable
    answered: set
    table: SecondTable
    near: set[int]
    trusted: set[Any]
    srcs: dict[Any, int]
    max_sources: int
    last_out: float
    pending_timeout: float
    on_contact: Callable[..., None]
    on_outcome: Callable[..., None]

    def neighbour(self, ts: float, src: int | bytes, dst: int | bytes, proto: int, sport: int, dport: int,
                  flags: int) -> None:
        """A packet from outside to another address of a home /24 (not itself protected): only its
        first contacts are kept, pings, SYNs and ACKs to service ports (TCP pings), so a sweep of the
        whole network is seen. Nothing else
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
        elif proto == 6 and flags & 0x1F == 0x10 and dport < 1024 <= sport:   # a lone ACK to a service port:
            port, probe = dport, P_ACK                                         # a TCP ping (nmap -PA)
        else:
            return
        srcs = self.srcs
        if src in srcs or len(srcs) < self.max_sources:   # judged this second with the other sources
            srcs[src] = srcs.get(src, 0) + 1
        self.on_contact(ts, src, dst, port, False, probe)

    def _stray(self, ts: float, key: Any, src: int | bytes, dst: int | bytes, dport: int, flags: int,
               who: int | bytes, data: bool) -> None:
        """An inbound segment outside every known connection: counted in the second's table (floods),
        and an empty lone ACK or FIN+ACK is a probe (ACK and Maimon scans map firewalls and open
        ports; a segment carrying data is a flow whose start the capture missed, or a flood).

        The key is known from then on, so a flow that began before the capture is counted once, not
        for its lifetime; but it stays `suspect` until the server takes part in it (see
        `_stray_again`), since a flood from one source port (hping3 --keep) reuses a single key."""
        est = self.est
        if len(est) >= est.cap:   # BoundedTable.put, inlined: every packet of a spoofed flood comes here
            est.popitem(last=False)
            est.evicted += 1
        est[key] = -ts   # negative: known, but the server has not taken part (suspect)
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
            self.on_contact(ts, src, dst, dport, False, P_ACK)
        elif bits == FIN | ACK:
            self.on_contact(ts, src, dst, dport, False, P_MAIMON)
        elif not flags & (ACK | RST):
            self.on_contact(ts, src, dst, dport, False, P_STEALTH)

    def _stray_again(self, ts: float, dst: int | bytes, dport: int, flags: int, who: int | bytes) -> None:
        """Another segment on an out-of-state key the server has not taken part in: counted in the
        second's table again while the server is seen sending (a real flow that began before the
        capture gets the server's ACKs within a round trip, which clear the key; segments it answers
        only with resets, or not at all, are a flood). In a one-way capture nothing can clear the key,
        so it counts once, as before."""
        if ts - self.last_out >= 10.0:
            return
        t = self.table
        t.stray += 1
        t.stray_dst[dst] = t.stray_dst.get(dst, 0) + 1
        t.stray_src[who] = t.stray_src.get(who, 0) + 1
        bits = flags & 0x3F
        t.stray_flags[bits] = t.stray_flags.get(bits, 0) + 1
        t.stray_ports[dport] = t.stray_ports.get(dport, 0) + 1

    web_ports = frozenset((80, 443, 8080, 8443, 8000, 8888))

    def _unreachable(self, client: int | bytes, buf: bytes, pstart: int, pend: int) -> None:
        """The server answered a probe with ICMP unreachable: a failed first contact for that client, on the
        port named in the quoted datagram (IPv4 header + its first 8 bytes, after the 4 unused bytes)."""
        quoted = pstart + 4
        port = -1
        if pend >= quoted + 20 and buf[quoted] >> 4 == 4:
            at = quoted + (buf[quoted] & 15) * 4 + 2
            if pend >= at + 2:
                port = buf[at] << 8 | buf[at + 1]
        self.on_outcome(client, False, port)

    def _expire_halfopen(self, now: float) -> None:
        """First contacts nobody answered within the timeout fail, if we can see the server answer at all."""
        two_way = now - self.last_out < 10.0
        table, answered, cutoff = self.halfopen, self.answered, now - self.pending_timeout
        while table:
            key, opened = table.popitem(last=False)
            if opened >= cutoff:   # not due yet: put it back in front, where it was
                table[key] = opened
                table.move_to_end(key, last=False)
                break
            if key in answered:
                answered.discard(key)
            elif two_way:
                if key.__class__ is int:
                    self.on_outcome(key >> 32, False, key & 0xFFFF)
                else:
                    self.on_outcome(key[0], False, key[2])

