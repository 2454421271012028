"""The per-packet path: a few integer counters and bounded tables per packet, everything else once a second.

`Engine.packet` is called for every captured packet with its decoded header fields and packet time
(live: receive time; offline: capture timestamps), so the same code runs on a socket and on a file.
The engine owns the connection state (half-open and known connections, the server's own first contacts,
unfinished HTTP request heads) and fills the second's feature table (`table.SecondTable`); detectors
(one module each in `detectors/`) are bound to the per-packet hooks they define and read the table once
a second, when packet time crosses a second boundary; the tracker opens and closes their anomalies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import report
from .contacts import Contacts
from .detectors import REGISTRY
from .packets import ACK, FIN, ICMP, PSH, RST, SYN, TCP, UDP, URG, addr_key
from .rules import TrafficRule
from .state import BoundedTable
from .table import OVERFLOW, P_PING, P_UDP, Detector, HostSecond, SecondTable
from .tracker import Listener, Tracker

HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"PROPFIND ",
                b"CONNECT ", b"TRACE ")
TLS_PORTS = frozenset((443, 8443, 465, 993, 995))   # server segments here are encrypted: no status to read
# the order detectors judge each second in (anomalies of one second start in this order); others follow
ORDER = ("syn_flood", "udp_flood", "icmp_flood", "reflection", "volume_spike", "port_scan", "brute_force",
         "http_flood", "outbound_anomaly")


def _ignore(*_args: Any) -> None:
    """A hook no enabled detector defines."""


def _fan_out(hooks: list[Callable[..., None]]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        for hook in hooks:
            hook(*args)
    return call


class Engine(Contacts):
    """Counts and tables for one capture; `rules` holds each detector's parameters."""

    def __init__(self, rules: dict[str, TrafficRule], home: set, listener: Listener,
                 listening: Callable[[], tuple[set[int], set[int]] | None] | None = None,
                 max_sources: int = 50000, trusted: set | None = None) -> None:
        self.rules = rules
        self.home: set[int | bytes] = {addr_key(a) for a in home}   # address keys (see packets.addr_key)
        self.trusted: set[int | bytes] = {addr_key(a) for a in trusted or ()}
        self.tracker = Tracker(listener)
        self.listening_fn = listening
        self.listen_tcp: set[int] | None = None
        self.listen_udp: set[int] | None = None
        self.learned_tcp: set[int] = set()
        self.max_sources = max_sources
        self.reflect_ports = set(rules["reflection"].params["ports"]) if "reflection" in rules else set()
        self.pending_timeout = rules["port_scan"].params["pending_timeout"] if "port_scan" in rules else 3.0
        # the /24s of the protected IPv4 addresses: a sweep across the home network reaches addresses
        # that are not themselves known (offline, the capture names only the servers it sees busy)
        self.near = {a >> 8 for a in self.home if a.__class__ is int}
        self._init_state()
        kinds = [k for k in ORDER if k in REGISTRY] + [k for k in REGISTRY if k not in ORDER]
        self.detectors: dict[str, Detector] = {kind: REGISTRY[kind](rules[kind].params, self.plugin_report, self)
                                               for kind in kinds if kind in rules}
        self.plugins = list(self.detectors.values())
        self._bind_hooks()

    def _bind_hooks(self) -> None:
        """Each per-packet hook calls only the detectors that define it (see table.Detector)."""
        for name in Detector.HOOKS:
            hooks = [getattr(d, name) for d in self.plugins if hasattr(d, name)]
            setattr(self, "on_" + name, _ignore if not hooks else hooks[0] if len(hooks) == 1 else _fan_out(hooks))
        self.auth_ports: set[int] = set().union(*(d.login_ports() for d in self.plugins))

    def _init_state(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.now = 0.0
        self.first_ts: float | None = None
        self.last_ts = 0.0
        self.next_tick = 0.0
        self.last_out = -1e18        # last time a home address sent anything (two-way visibility)
        # bounded tables that live across seconds
        self.halfopen = BoundedTable(65536)      # conn_key(src, sport, dport) -> first SYN time
        self.est = BoundedTable(65536)           # conn keys seen -> time (negative: out of state, see _stray)
        self.answered: set = set()               # half-open keys the server answered with a SYN-ACK
        self.asked_tcp = BoundedTable(16384)     # (remote, port) the home side opened -> ts
        self.asked_udp = BoundedTable(16384)
        self.frags = BoundedTable(8192)          # (src, ip id) -> first fragment was a reflected reply
        self.peers = BoundedTable(4096)          # remotes in a conversation the server opened or accepted -> ts
        self.conns = BoundedTable(20000)         # (src, sport, dst, dport) -> partial HTTP request state
        self._new_second()

    def plugin_report(self, kind: str, now: float, src: str, dst: str, evidence: dict[str, Any],
                      features: dict[str, Any], start: float | None = None, key: tuple | None = None) -> None:
        """What a detector calls to open or extend its anomaly (one per kind and victim by default)."""
        report.report(self, kind, now, src, dst, features, evidence, start, key or (kind, dst))

    def detector(self, kind: str) -> Detector | None:
        """The enabled detector of `kind` (None when its rule is off)."""
        return self.detectors.get(kind)

    def _new_second(self) -> None:
        t = self.table = SecondTable(self.conns)
        # the hot path writes the table's dicts through these names (one attribute load, not two)
        self.dsts, self.srcs, self.src_syn, self.src_udp = t.hosts, t.srcs, t.src_syn, t.src_udp
        self.src_icmp, self.src_reflb, self.src_synack = t.src_icmp, t.src_reflb, t.src_synack
        self.src_reqs, self.web_conns = t.src_reqs, t.web_conns
        self.syn_ports, self.udp_ports, self.refl_ports = t.syn_ports, t.udp_ports, t.refl_ports
        self.sec_pkts = 0
        self.sec_bytes = 0
        self.out_pkts = 0

    # ---- hot path -------------------------------------------------------------------------------
    def packet(self, ts: float, buf: bytes, src: int | bytes, dst: int | bytes, proto: int, sport: int,
               dport: int, flags: int, length: int, pstart: int, pend: int, fragid: int) -> None:
        """Account one packet (called for every packet; keep it lean)."""
        if ts >= self.next_tick:
            self._tick(ts)
        self.last_ts = ts
        self.packets += 1
        self.bytes += length
        self.sec_pkts += 1
        self.sec_bytes += length
        home = self.home
        if dst in home:
            if src not in home and src not in self.trusted:
                self._inbound(ts, buf, src, dst, proto, sport, dport, flags, length, pstart, pend, fragid)
        elif src in home:
            self.last_out = ts
            self.out_pkts += 1
            if dst not in self.trusted:
                self._outbound(ts, buf, src, dst, proto, sport, dport, flags, pstart, pend)
        elif self.near and dst.__class__ is int and dst >> 8 in self.near:
            self.neighbour(ts, src, dst, proto, sport, dport, flags)

    def _inbound(self, ts: float, buf: bytes, src: int | bytes, dst: int | bytes, proto: int, sport: int,
                 dport: int, flags: int, length: int, pstart: int, pend: int, fragid: int) -> None:
        h = self.dsts.get(dst)
        if h is None:
            h = self.dsts[dst] = HostSecond()
        h.pkts += 1
        h.bytes += length
        srcs = self.srcs
        who = src   # the key of this source's per-second counters
        seen = srcs.get(src)
        if seen is None:
            if len(srcs) >= self.max_sources:
                who = OVERFLOW
            seen = srcs.get(who, 0)
        srcs[who] = seen + 1
        if proto == TCP:
            if flags & SYN:
                if flags & ACK:
                    if (src, sport) not in self.asked_tcp:
                        h.synack += 1
                        self.src_synack[who] = self.src_synack.get(who, 0) + 1
                    else:
                        self.on_outbound_answered(dst, src)
                else:
                    h.syn += 1
                    self.src_syn[who] = self.src_syn.get(who, 0) + 1
                    self._syn(ts, src, dst, sport, dport, flags)
            else:
                key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
                known = self.est.get(key)   # when the server last took part; negative: it never did
                if known is None:
                    if flags & ACK and self.halfopen and self.halfopen.pop(key, None) is not None:
                        self.est.put(key, ts)
                        if key in self.answered:
                            self.answered.discard(key)
                            self.peers.put(src, ts)
                        h.done += 1
                        if dport in self.web_ports:
                            self.web_conns[who] = self.web_conns.get(who, 0) + 1
                    else:
                        self._stray(ts, key, src, dst, dport, flags, who, pend > pstart)
                elif known < 0.0:
                    self._stray_again(ts, dst, dport, flags, who)
                if pend > pstart:
                    if dport in self.auth_ports:
                        self.on_login_data(ts, src, sport, dport, pend - pstart)
                    self._tcp_data(ts, buf, src, dst, sport, dport, pstart, pend, h, who)
                elif flags & (FIN | RST) and self.conns:
                    self.conns.pop((src, sport, dst, dport), None)
                if flags & (FIN | RST) and dport in self.auth_ports:
                    self.on_login_close(ts, src, sport, dport)
                if not flags & (ACK | RST):
                    self.on_odd_flags(ts, src, flags)
        elif proto == UDP:
            self._udp(ts, src, dst, sport, dport, length, fragid, h, who)
        elif proto == ICMP:
            h.icmp += 1
            h.icmpb += length
            self.src_icmp[who] = self.src_icmp.get(who, 0) + 1
            if sport == 8 or sport == 13 or sport == 128:   # echo or timestamp request: host discovery
                self.on_contact(ts, src, dst, -1, False, P_PING)

    def _syn(self, ts: float, src: int | bytes, dst: int | bytes, sport: int, dport: int, flags: int) -> None:
        syn_ports = self.syn_ports
        syn_ports[dport] = syn_ports.get(dport, 0) + 1
        key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
        halfopen = self.halfopen
        if key in halfopen:
            return  # a retransmitted SYN is not a new attempt
        if self.est and key in self.est:
            del self.est[key]   # the client reuses the address and port pair: a new connection
        failed_now = self.listen_tcp is not None and dport not in self.listen_tcp
        if not failed_now:
            if len(halfopen) >= halfopen.cap:
                old = halfopen.popitem(last=False)[0]
                halfopen.evicted += 1
                if self.answered:
                    self.answered.discard(old)
            halfopen[key] = ts
        self.on_contact(ts, src, dst, dport, failed_now, 0)
        if dport in self.auth_ports and not failed_now:
            self.on_login_open(ts, key)
        if flags & (FIN | URG | PSH):
            self.on_odd_flags(ts, src, flags)

    def _tcp_data(self, ts: float, buf: bytes, src: int | bytes, dst: int | bytes, sport: int, dport: int,
                  pstart: int, pend: int, h: HostSecond, who: int | bytes) -> None:
        key = (src, sport, dst, dport)
        conn = self.conns.get(key)
        if conn is None:
            head = buf[pstart:pstart + 10]
            if not head.startswith(HTTP_METHODS):
                return
            h.reqs += 1
            self.src_reqs[who] = self.src_reqs.get(who, 0) + 1
            self.on_http_request(ts, src, sport, buf[pstart:pend])
            if buf.find(b"\r\n\r\n", pstart, pend) < 0:
                self.conns.put(key, [ts, ts, 1, pend - pstart, 0])   # start, last, segments, bytes, trickles
            return
        if ts - conn[1] >= 1.0:
            conn[4] += 1  # a header fragment after a pause: the slowloris keep-alive
        conn[1] = ts
        conn[2] += 1
        conn[3] += pend - pstart
        if buf.find(b"\r\n\r\n", pstart, pend) >= 0:
            del self.conns[key]

    def _udp(self, ts: float, src: int | bytes, dst: int | bytes, sport: int, dport: int, length: int,
             fragid: int, h: HostSecond, who: int | bytes) -> None:
        if sport < 0:  # a later fragment: belongs with its first fragment
            reflected = self.frags.get((src, fragid))
            if reflected:
                h.refl += 1
                h.reflb += length
                self.src_reflb[who] = self.src_reflb.get(who, 0) + length
                return
        elif sport in self.reflect_ports and (src, sport) in self.asked_udp:
            self.on_outbound_answered(dst, src)   # the answer to the server's own query
        elif sport in self.reflect_ports:
            h.refl += 1
            h.reflb += length
            self.src_reflb[who] = self.src_reflb.get(who, 0) + length
            self.refl_ports[sport] = self.refl_ports.get(sport, 0) + 1
            if fragid >= 0:
                self.frags.put((src, fragid), True)
            return
        h.udp += 1
        h.udpb += length
        self.src_udp[who] = self.src_udp.get(who, 0) + 1
        if sport < 0:
            return
        self.udp_ports[dport] = self.udp_ports.get(dport, 0) + 1
        if sport >= 1024 or dport < 1024:  # reply-shaped packets (service port -> ephemeral) are not contacts
            failed_now = self.listen_udp is not None and dport not in self.listen_udp
            self.on_contact(ts, src, dst, dport, failed_now, P_UDP)

    def _outbound(self, ts: float, buf: bytes, src: int | bytes, dst: int | bytes, proto: int, sport: int,
                  dport: int, flags: int, pstart: int, pend: int) -> None:
        if proto == TCP:
            if flags & (SYN | RST):
                key = dst << 32 | dport << 16 | sport if dst.__class__ is int else (dst, dport, sport)
            if flags & SYN:
                if flags & ACK:
                    self.learned_tcp.add(sport)
                    if key in self.halfopen and key not in self.answered:
                        self.answered.add(key)
                        self.on_outcome(dst, True, -1)
                else:
                    self.asked_tcp.put((dst, dport), ts)
                    self.peers.put(dst, ts)
                    self.on_outbound_contact(ts, src, dst, dport)
            elif flags & RST:
                if self.halfopen.pop(key, None) is not None:
                    if key in self.answered:
                        self.answered.discard(key)
                    else:
                        self.on_outcome(dst, False, sport)
            else:
                key = dst << 32 | dport << 16 | sport if dst.__class__ is int else (dst, dport, sport)
                known = self.est.get(key)
                if known is None:
                    self.est.put(key, ts)   # the server takes part: a connection it knows
                elif known < 0.0:
                    self.est[key] = ts      # ...also one that began out of state (no longer suspect)
                if pend > pstart and sport not in TLS_PORTS:   # replies in clear text: HTTP status, logins
                    self._response(ts, buf, dst, sport, pstart, pend, dport)
        elif proto == UDP:
            key = (dst, dport)
            if key in self.asked_udp:
                self.asked_udp[key] = ts
            else:
                self.asked_udp.put(key, ts)
                if not sport < 1024 <= dport:   # a service port answering a client is not reaching out
                    self.on_outbound_contact(ts, src, dst, dport)
        elif proto == ICMP and sport == 3:
            self._unreachable(dst, buf, pstart, pend)

    def _response(self, ts: float, buf: bytes, client: int | bytes, sport: int, pstart: int, pend: int,
                  cport: int) -> None:
        """Server data towards a client: an HTTP status (its first digit) or another service's reply."""
        if buf.startswith(b"HTTP/1.", pstart):
            self.on_http_status(ts, client, cport, buf[pstart + 9:pstart + 10])
        else:
            self.on_service_reply(ts, buf, client, sport, pstart, pend, cport)

    # ---- once a second ----------------------------------------------------------------------------
    def _tick(self, ts: float) -> None:
        if self.first_ts is None:
            self.first_ts = ts
            self.next_tick = float(int(ts)) + 1.0
            return
        self._evaluate(self.next_tick)
        self._new_second()
        gap = 0
        self.next_tick += 1.0
        while self.next_tick <= ts and gap < 300:  # quiet seconds still teach the baselines
            self._evaluate(self.next_tick)
            self.next_tick += 1.0
            gap += 1
        if self.next_tick <= ts:
            self.next_tick = float(int(ts)) + 1.0

    def _evaluate(self, now: float) -> None:
        """Close the second ending at `now`: fail unanswered first contacts, run every detector on the
        second's table, then expire tables and quiet anomalies."""
        self.now = now
        t = self.table
        t.pkts, t.bytes, t.out_pkts = self.sec_pkts, self.sec_bytes, self.out_pkts
        self._expire_halfopen(now)
        for detector in self.plugins:
            detector.second(now, t)
        self.conns.expire(now - 600.0, 1)   # request heads unfinished for ten minutes are forgotten
        self.tracker.sweep(now)

    def advance(self, now: float) -> None:
        """Live: let wall time move the seconds on when no packet arrives (anomalies still end)."""
        if self.first_ts is None:
            self.first_ts = now
            self.next_tick = float(int(now)) + 1.0
        elif now >= self.next_tick:
            self._tick(now)

    def refresh_listening(self) -> None:
        """Live only: the ports the server really listens on (a SYN elsewhere fails at once)."""
        if self.listening_fn is not None:
            found = self.listening_fn()
            if found is not None:
                self.listen_tcp, self.listen_udp = found

    def finish(self) -> None:
        """End of a capture: evaluate the last partial second and close every open anomaly."""
        if self.first_ts is not None:
            for detector in self.plugins:
                detector.finish(self.last_ts)
            self._evaluate(min(self.next_tick, max(self.last_ts, self.next_tick - 1.0)))
            self._new_second()
        self.tracker.close_all()

    def stats(self) -> dict[str, Any]:
        tables = [self.halfopen, self.est, self.asked_tcp, self.asked_udp, self.frags, self.conns, self.peers]
        for detector in self.plugins:
            tables.extend(detector.tables())
        scan = self.detector("port_scan")
        return {"packets": self.packets, "bytes": self.bytes,
                "sources_tracked": len(scan.tables()[0]) if scan is not None else 0,
                "evicted": sum(t.evicted for t in tables), "active": self.tracker.active_kinds(),
                "anomalies": self.tracker.total}
