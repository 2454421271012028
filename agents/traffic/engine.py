"""The per-packet path: a few integer counters and bounded tables per packet, everything else once a second.

`Engine.packet` is called for every captured packet with its decoded header fields and packet time
(live: receive time; offline: capture timestamps), so the same code runs on a socket and on a file.
When packet time crosses a second boundary, `detect.evaluate` turns the second's counters into
per-detector features, and the tracker opens and closes anomalies.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from ipaddress import ip_network
from typing import Any

from . import detect, logins, report
from .contacts import P_PING, P_UDP, Contacts
from .detectors import REGISTRY
from .packets import ACK, FIN, ICMP, PSH, RST, SYN, TCP, UDP, URG, addr_key
from .rules import TrafficRule
from .state import BoundedTable, Cusum, Ewma, Seasonal
from .table import SecondTable
from .tracker import Listener, Tracker

# per-second counters for each protected (home) address
D_PKTS, D_BYTES, D_SYN, D_DONE, D_UDP, D_UDPB, D_ICMP, D_ICMPB, D_REFL, D_REFLB, D_SYNACK, D_REQS = range(12)
OVERFLOW = b""   # per-second source counters: where sources beyond max_sources are counted together
# half-open table: connection key -> first SYN time; keys answered by a SYN-ACK are in `answered`
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"PROPFIND ",
                b"CONNECT ", b"TRACE ")
TLS_PORTS = frozenset((443, 8443, 465, 993, 995))   # server segments here are encrypted: no status to read


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
        p = {k: r.params for k, r in rules.items()}
        self.p = p
        self.auth_ports = set(p.get("brute_force", {}).get("ports", ()))
        self.attempt_bytes = p.get("brute_force", {}).get("max_attempt_bytes", 16384)
        self.attempt_segments = p.get("brute_force", {}).get("max_attempt_segments", 40)
        self.reflect_ports = set(p.get("reflection", {}).get("ports", ()))
        agents = [re.escape(a.lower().encode()) for a in p.get("port_scan", {}).get("scanner_agents", ())]
        # one case-insensitive search of the User-Agent line for every scanner name (was a loop per name)
        self.scanner_ua = re.compile(rb"\nuser-agent:[^\n]*?(?:" + b"|".join(agents) + b")",
                                     re.IGNORECASE).search if agents else None
        self.login_paths = [s.encode() for s in p.get("brute_force", {}).get("login_paths", ())]
        self.scan_window = p.get("port_scan", {}).get("window", 60.0)
        self.beacon_ignore = [ip_network(str(c), strict=False)
                              for c in p.get("outbound_anomaly", {}).get("beacon_ignore_nets", ())]
        # the /24s of the protected IPv4 addresses: a sweep across the home network reaches addresses
        # that are not themselves known (offline, the capture names only the servers it sees busy)
        self.near = {a >> 8 for a in self.home if a.__class__ is int}
        self.plugins = [cls(rules[kind].params, self.plugin_report, lambda: self.first_ts)
                        for kind, cls in REGISTRY.items() if kind in rules]
        self._init_state()

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
        self.est = BoundedTable(65536)           # conn keys of connections the server is known to be in
        self.answered: set = set()               # half-open keys the server answered with a SYN-ACK
        self.scan = BoundedTable(20000)          # src -> scan state list
        self.asked_tcp = BoundedTable(16384)     # (remote, port) the home side opened -> ts
        self.asked_udp = BoundedTable(16384)
        self.frags = BoundedTable(8192)          # (src, ip id) -> first fragment was a reflected reply
        self.auth = BoundedTable(10000)          # (src, port) -> logins.Guesses
        self.auth_log: dict[int, deque] = {}     # login port -> recent (time, source) of every guess
        self.auth_dirty: set[int] = set()        # login ports with a guess since the last second
        self.authconns = BoundedTable(16384)     # conn_key to a login port -> [opened, client bytes, logged in]
        self.login_pending = BoundedTable(4096)  # (client, port) that posted a login form -> ts, until the reply
        self.peers = BoundedTable(4096)          # remotes in a conversation the server opened or accepted -> ts
        self.conns = BoundedTable(20000)         # (src, sport, dst, dport) -> partial HTTP request state
        self.outbound = BoundedTable(4096)       # home src -> [window start, hosts, ports per host]
        self.beacons = BoundedTable(4096)        # (home, remote, port) -> deque of connection times
        self.window: dict[str, Any] = {"refl_start": 0.0, "reflectors": {}, "synack_srcs": {}, "refl": 0,
                                       "reflb": 0, "synacks": 0, "frags": 0, "http_start": 0.0, "http": {}}
        self.history: deque = deque(maxlen=5)  # the last seconds' per-home counters, for half-open ratios
        self._new_second()
        self._init_baselines()

    def _init_baselines(self) -> None:
        p = self.p
        syn = p.get("syn_flood", {})
        self.syn_cusum: dict[bytes, Cusum] = {}
        self.syn_args = (syn.get("baseline_alpha", 0.01), syn.get("initial_baseline", 10.0),
                         syn.get("slack_ratio", 0.5), syn.get("slack_min", 20.0))
        self.udp_base: dict[bytes, Ewma] = {}
        self.icmp_base: dict[bytes, Ewma] = {}
        http = p.get("http_flood", {})
        self.http_base = Ewma(http.get("baseline_alpha", 0.01), http.get("initial_baseline", 20.0))
        self.http_source_base = Ewma(http.get("source_baseline_alpha", 0.1), http.get("initial_source_baseline", 20.0))
        vol = p.get("volume_spike", {})
        self.volume = Seasonal(vol.get("alpha", 0.01), min_samples=600)
        self.volume_bps = Seasonal(vol.get("alpha", 0.01), min_samples=600)
        self.volume_run = 0.0
        self.learned_s = 0.0

    def plugin_report(self, kind: str, now: float, src: str, dst: str, evidence: dict[str, Any],
                      features: dict[str, Any], start: float | None = None, key: tuple | None = None) -> None:
        """What a plug-in detector calls to open or extend its anomaly (one per kind and victim)."""
        report.report(self, kind, now, src, dst, features, evidence, start, key or (kind, dst))

    def _new_second(self) -> None:
        self.table = SecondTable(self.conns)
        self.dsts: dict[int | bytes, list[int]] = {}
        # per-source counters of the second, one int dict each (no per-source object to allocate)
        self.srcs: dict[int | bytes, int] = {}     # packets from each active source (capped, see OVERFLOW)
        self.src_syn: dict[int | bytes, int] = {}
        self.src_udp: dict[int | bytes, int] = {}
        self.src_icmp: dict[int | bytes, int] = {}
        self.src_reflb: dict[int | bytes, int] = {}
        self.src_synack: dict[int | bytes, int] = {}
        self.src_reqs: dict[int | bytes, int] = {}
        self.syn_ports: dict[int, int] = {}
        self.udp_ports: dict[int, int] = {}
        self.refl_ports: dict[int, int] = {}
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
            h = self.dsts[dst] = [0] * 12
        h[D_PKTS] += 1
        h[D_BYTES] += length
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
                        h[D_SYNACK] += 1
                        self.src_synack[who] = self.src_synack.get(who, 0) + 1
                    elif self.outbound:
                        detect.outbound_answered(self, dst, src)
                else:
                    h[D_SYN] += 1
                    self.src_syn[who] = self.src_syn.get(who, 0) + 1
                    self._syn(ts, src, dst, sport, dport, flags)
            else:
                key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
                if key not in self.est:
                    if flags & ACK and self.halfopen and self.halfopen.pop(key, None) is not None:
                        self.est.put(key, ts)
                        if key in self.answered:
                            self.answered.discard(key)
                            self.peers.put(src, ts)
                        h[D_DONE] += 1
                        if dport in self.web_ports:
                            self._http_count(src, ts)
                    else:
                        self._stray(ts, key, src, dst, dport, flags, who, pend > pstart)
                if pend > pstart:
                    if dport in self.auth_ports and self.authconns:
                        self._auth_bytes(ts, src, sport, dport, pend - pstart)
                    self._tcp_data(ts, buf, src, dst, sport, dport, pstart, pend, h, who)
                elif flags & (FIN | RST) and self.conns:
                    self.conns.pop((src, sport, dst, dport), None)
                if flags & (FIN | RST) and self.authconns and dport in self.auth_ports:
                    logins.close(self, ts, src, sport, dport)
                if not flags & (ACK | RST):
                    self._odd_flags(ts, src, flags)
        elif proto == UDP:
            self._udp(ts, src, dst, sport, dport, length, fragid, h, who)
        elif proto == ICMP:
            h[D_ICMP] += 1
            h[D_ICMPB] += length
            self.src_icmp[who] = self.src_icmp.get(who, 0) + 1
            if sport == 8 or sport == 13 or sport == 128:   # echo or timestamp request: host discovery
                self._contact(ts, src, dst, -1, False, P_PING)

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
        self._contact(ts, src, dst, dport, failed_now)
        if dport in self.auth_ports and not failed_now:
            self.authconns.put(key, [ts, 0, False, 0])   # opened, client bytes, logged in, client segments
        if flags & (FIN | URG | PSH):
            self._odd_flags(ts, src, flags)

    def _tcp_data(self, ts: float, buf: bytes, src: int | bytes, dst: int | bytes, sport: int, dport: int,
                  pstart: int, pend: int, h: list[int], who: int | bytes) -> None:
        key = (src, sport, dst, dport)
        conn = self.conns.get(key)
        if conn is None:
            head = buf[pstart:pstart + 10]
            if not head.startswith(HTTP_METHODS):
                return
            h[D_REQS] += 1
            self.src_reqs[who] = self.src_reqs.get(who, 0) + 1
            detect.http_request(self, ts, src, buf[pstart:pend], sport)
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
             fragid: int, h: list[int], who: int | bytes) -> None:
        if sport < 0:  # a later fragment: belongs with its first fragment
            reflected = self.frags.get((src, fragid))
            if reflected:
                h[D_REFL] += 1
                h[D_REFLB] += length
                self.src_reflb[who] = self.src_reflb.get(who, 0) + length
                return
        elif sport in self.reflect_ports and (src, sport) in self.asked_udp:
            if self.outbound:
                detect.outbound_answered(self, dst, src)   # the answer to the server's own query
        elif sport in self.reflect_ports:
            h[D_REFL] += 1
            h[D_REFLB] += length
            self.src_reflb[who] = self.src_reflb.get(who, 0) + length
            self.refl_ports[sport] = self.refl_ports.get(sport, 0) + 1
            if fragid >= 0:
                self.frags.put((src, fragid), True)
            return
        h[D_UDP] += 1
        h[D_UDPB] += length
        self.src_udp[who] = self.src_udp.get(who, 0) + 1
        if sport < 0:
            return
        self.udp_ports[dport] = self.udp_ports.get(dport, 0) + 1
        if sport >= 1024 or dport < 1024:  # reply-shaped packets (service port -> ephemeral) are not contacts
            failed_now = self.listen_udp is not None and dport not in self.listen_udp
            self._contact(ts, src, dst, dport, failed_now, P_UDP)

    def _http_count(self, src: int | bytes, ts: float) -> None:
        counts = self.window["http"]
        if src in counts or len(counts) < self.max_sources:
            counts[src] = counts.get(src, 0) + 1

    def _auth_bytes(self, ts: float, src: int | bytes, sport: int, dport: int, size: int) -> None:
        key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
        conn = self.authconns.get(key)
        if conn is not None:
            conn[1] += size
            conn[3] += 1
            if (conn[1] > self.attempt_bytes or conn[3] > self.attempt_segments) and not conn[2]:
                logins.session(self, ts, src, dport, conn)   # a session's worth of bytes or keystrokes

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
                        detect.outcome(self, dst, True)
                else:
                    self.asked_tcp.put((dst, dport), ts)
                    self.peers.put(dst, ts)
                    detect.outbound_contact(self, ts, src, dst, dport)
            elif flags & RST:
                if self.halfopen.pop(key, None) is not None:
                    if key in self.answered:
                        self.answered.discard(key)
                    else:
                        detect.outcome(self, dst, False, sport)
            else:
                key = dst << 32 | dport << 16 | sport if dst.__class__ is int else (dst, dport, sport)
                if key not in self.est:
                    self.est.put(key, ts)   # the server takes part: a connection it knows
                if pend > pstart and sport not in TLS_PORTS:   # replies in clear text: HTTP status, logins
                    detect.response(self, ts, buf, dst, sport, pstart, pend, dport)
        elif proto == UDP:
            key = (dst, dport)
            if key in self.asked_udp:
                self.asked_udp[key] = ts
            else:
                self.asked_udp.put(key, ts)
                if not sport < 1024 <= dport:   # a service port answering a client is not reaching out
                    detect.outbound_contact(self, ts, src, dst, dport)
        elif proto == ICMP and sport == 3:
            detect.unreachable(self, dst, buf, pstart, pend)

    # ---- once a second ----------------------------------------------------------------------------
    def _tick(self, ts: float) -> None:
        if self.first_ts is None:
            self.first_ts = ts
            self.next_tick = float(int(ts)) + 1.0
            return
        detect.evaluate(self, self.next_tick)
        self._new_second()
        gap = 0
        self.next_tick += 1.0
        while self.next_tick <= ts and gap < 300:  # quiet seconds still teach the baselines
            detect.evaluate(self, self.next_tick)
            self.next_tick += 1.0
            gap += 1
        if self.next_tick <= ts:
            self.next_tick = float(int(ts)) + 1.0

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
            logins.close_all(self)
            detect.evaluate(self, min(self.next_tick, max(self.last_ts, self.next_tick - 1.0)))
            self._new_second()
        self.tracker.close_all()

    def stats(self) -> dict[str, Any]:
        tables = (self.halfopen, self.est, self.scan, self.asked_tcp, self.asked_udp, self.frags, self.auth, self.conns,
                  self.outbound, self.beacons, self.authconns, self.peers, self.login_pending)
        return {"packets": self.packets, "bytes": self.bytes, "sources_tracked": len(self.scan),
                "evicted": sum(t.evicted for t in tables), "active": self.tracker.active_kinds(),
                "anomalies": self.tracker.total}
