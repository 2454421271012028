"""port_scan: sweeps of ports or hosts, stealth and UDP scans, host discovery and fingerprinting.

Every first contact the engine sees (a new SYN, a UDP datagram, a ping, an out-of-state ACK or FIN
probe, also to neighbours on a protected /24) lands in its source's `ScanState`; outcomes (answered,
refused, unanswered) move the threshold random walk (Jung et al. 2004); scanner user agents, odd-flag
probes and bursts of HTTP errors are fingerprinting. Once a second the sources active that second are
judged. A source seen for a single first contact only (every source of a spoofed flood) is kept as
the tuple (first, last, port, host, failures) and becomes a `ScanState` on its second distinct contact.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..packets import addr_text
from ..state import BoundedTable
from ..table import P_PING, Detector, SecondTable, register

SCANNER_AGENTS = ["nmap", "nikto", "sqlmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster",
                  "openvas", "acunetix", "nessus", "wfuzz", "ffuf", "feroxbuster"]
MAX_SET = 1024
PROBE_SCANS = ("vertical sweep", "UDP scan", "ACK scan", "FIN/NULL/Xmas scan", "Maimon scan", "host sweep")


class ScanState:
    """One source's reconnaissance: contacted ports and hosts, outcomes, the walk, probe signals."""

    __slots__ = ("first", "last", "ports", "hosts", "failed", "ok", "llr", "ua", "odd", "herr", "hreq",
                 "fports", "probes")

    def __init__(self, first: float, last: float) -> None:
        self.first, self.last = first, last
        self.ports: set[int] = set()
        self.hosts: set[Any] = set()
        self.failed = self.ok = self.ua = self.odd = self.herr = self.hreq = 0
        self.llr = 0.0
        self.fports: set[int] = set()   # ports whose failure was counted (once each)
        self.probes = [0] * 6           # first contacts by probe kind (table.P_*)


@register
class PortScan(Detector):
    kind = "port_scan"
    PARAMS = {"window": 60.0, "distinct_ports": 25, "distinct_hosts": 25, "theta0": 0.8, "theta1": 0.2,
              "alpha": 0.01, "beta": 0.99, "min_failed": 5, "pending_timeout": 3.0,
              "fingerprint_user_agents": 3, "fingerprint_odd_flags": 3, "fingerprint_max_odd_per_port": 50,
              "fingerprint_http_errors": 30, "fingerprint_error_ratio": 0.5, "scanner_agents": SCANNER_AGENTS,
              "quiet": 30.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        sweep = (f.get("trw_scanner") and f.get("failed", 0) >= p["min_failed"]) \
            or f.get("distinct_ports", 0) >= p["distinct_ports"] or f.get("distinct_hosts", 0) >= p["distinct_hosts"]
        errors, requests = f.get("http_errors", 0), f.get("http_requests", 0)
        odd = f.get("odd_tcp_flags", 0)   # a few odd-flag probes fingerprint; thousands at one port are a flood
        most_odd = p["fingerprint_max_odd_per_port"] * max(f.get("distinct_ports", 0), 1)
        fingerprint = f.get("scanner_user_agent", 0) >= p["fingerprint_user_agents"] \
            or p["fingerprint_odd_flags"] <= odd <= most_odd \
            or (errors >= p["fingerprint_http_errors"] and errors >= p["fingerprint_error_ratio"] * max(requests, 1))
        return bool(sweep or fingerprint)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        p = self.p
        self.scan = BoundedTable(20000)   # src -> ScanState, or the compact one-contact tuple
        self.window = p["window"]
        self.step_ok = math.log(p["theta1"] / p["theta0"])
        self.step_fail = math.log((1 - p["theta1"]) / (1 - p["theta0"]))
        self.floor = math.log((1 - p["beta"]) / (1 - p["alpha"]))
        self.threshold = math.log(p["beta"] / p["alpha"])
        agents = [re.escape(a.lower().encode()) for a in p["scanner_agents"]]
        # one case-insensitive search of the User-Agent line for every scanner name
        self.scanner_ua = re.compile(rb"\nuser-agent:[^\n]*?(?:" + b"|".join(agents) + b")",
                                     re.IGNORECASE).search if agents else None

    def tables(self) -> list[Any]:
        return [self.scan]

    # ---- hooks (per packet) ---------------------------------------------------------------------
    def contact(self, ts: float, src: Any, dst: Any, port: int, failed_now: bool, probe: int) -> None:
        scan = self.scan
        st = scan.get(src)
        if st is None or ts - (st[1] if st.__class__ is tuple else st.last) > self.window:
            if len(scan) >= scan.cap:
                scan.popitem(last=False)
                scan.evicted += 1
            scan[src] = (ts, ts, port, dst, 0)   # compact until a second distinct contact
            if failed_now:
                self._step(self.state(src), False)
            return
        scan.move_to_end(src)
        if st.__class__ is tuple:
            first, _last, cport, chost, failures = st
            if cport == port and chost == dst:
                scan[src] = (first, ts, port, dst, failures)
                return
            st = self.state(src)
        st.last = ts
        st.probes[probe] += 1
        ports = st.ports
        if port not in ports and len(ports) < MAX_SET and port >= 0:
            ports.add(port)
            if failed_now:
                self._step(st, False)
        hosts = st.hosts
        if dst not in hosts and len(hosts) < MAX_SET:
            hosts.add(dst)

    def outcome(self, src: Any, success: bool, port: int) -> None:
        """Failures count once per service port (TRW judges distinct first contacts): a browser whose
        six connections and their retries are refused while the web server restarts made one failed
        contact, a scanner makes one per port."""
        st = self.scan.get(src)
        if st is None:
            return
        if st.__class__ is tuple and not success:  # a one-contact source stays compact: count the failure
            first, last, cport, host, failures = st
            if port != cport or not failures:
                self.scan[src] = (first, last, cport, host, failures + 1)
            return
        st = self.state(src)
        if not success and port >= 0:
            if port in st.fports:
                return
            if len(st.fports) < MAX_SET:
                st.fports.add(port)
        self._step(st, success)

    def odd_flags(self, ts: float, src: Any, flags: int) -> None:
        st = self.state(src, ts)
        st.odd += 1
        st.last = ts

    def http_request(self, ts: float, src: Any, sport: int, head: bytes) -> None:
        scanner = self.scanner_ua is not None and self.scanner_ua(head, 0, 2048) is not None
        st = self.state(src, ts if scanner else None)
        if st is not None:
            st.hreq += 1
            st.ua += scanner

    def http_status(self, ts: float, client: Any, cport: int, status: bytes) -> None:
        if status == b"4":
            st = self.state(client)
            if st is not None:
                st.herr += 1

    # ---- state --------------------------------------------------------------------------------
    def _step(self, st: ScanState, success: bool) -> None:
        """Threshold random walk: each outcome moves the scanner/benign likelihood ratio."""
        if success:
            st.ok += 1
            st.llr += self.step_ok
        else:
            st.failed += 1
            st.llr += self.step_fail
        if st.llr < self.floor:
            st.llr = self.floor

    def state(self, src: Any, create_at: float | None = None) -> ScanState | None:
        """The full scan state of `src` (expanding a compact one), created at `create_at` if asked."""
        st = self.scan.get(src)
        if st is None:
            if create_at is None:
                return None
            return self.scan.put(src, ScanState(create_at, create_at))
        if st.__class__ is tuple:
            st = self.scan[src] = self._expanded(st)   # same place in the recency order
        return st

    def _expanded(self, compact: tuple) -> ScanState:
        """The full scan state a compact (one-contact) entry stands for."""
        first, last, port, host, failures = compact
        full = ScanState(first, last)
        if port >= 0:
            full.ports.add(port)
        full.hosts.add(host)
        if failures:
            full.fports.add(port)
        for _ in range(failures):
            self._step(full, False)
        return full

    # ---- once a second --------------------------------------------------------------------------
    def second(self, now: float, table: SecondTable) -> None:
        compact_verdicts: dict[int, bool] = {}   # one-contact sources differ only in their failure count
        scan, p = self.scan, self.p
        for src in table.srcs:
            st = scan.get(src)
            if st is None:
                continue
            if st.__class__ is tuple:
                verdict = compact_verdicts.get(st[4])
                if verdict is None:
                    verdict = compact_verdicts[st[4]] = self.decide(p, self._features(self._expanded(st)))
                if not verdict:
                    continue
                st = self.state(src)
            features = self._features(st)
            if self.decide(p, features):
                self._report(now, src, st, features)

    def _report(self, now: float, src: Any, st: ScanState, features: dict[str, Any]) -> None:
        p = self.p
        sweep = features["distinct_ports"] >= p["distinct_ports"] or features["distinct_hosts"] >= p["distinct_hosts"] \
            or (features["trw_scanner"] and features["failed"] >= p["min_failed"])
        ports = sorted(st.ports)
        hosts = [addr_text(h) for h in list(st.hosts)[:10]]
        scan_type = _scan_type(st, len(ports)) if sweep else "service/OS fingerprinting"
        elapsed = max(st.last - st.first, 1e-3)
        evidence = {"scan_type": scan_type, "distinct_ports": len(ports), "distinct_hosts": len(st.hosts),
                    "ports_sample": ports[:20], "port_range": [ports[0], ports[-1]] if ports else [],
                    "failed_contacts": st.failed, "answered_contacts": st.ok,
                    "probes_per_s": round(len(ports) / elapsed, 1), "scanner_user_agent_requests": st.ua,
                    "odd_tcp_flag_probes": st.odd, "http_errors": st.herr, "http_requests": st.hreq,
                    "targets": hosts}
        evidence["explanation"] = (
            f"{addr_text(src)} contacted {len(ports)} ports on {len(st.hosts)} host(s) in {elapsed:.1f}s, "
            f"{st.failed} failed ({scan_type})" if sweep else
            f"{addr_text(src)} probed like a fingerprinting tool: {st.ua} scanner user-agent requests, "
            f"{st.odd} odd-flag TCP probes, {st.herr}/{st.hreq} HTTP errors")
        dst = hosts[0] if len(hosts) == 1 else "many"
        self.report(self.kind, now, addr_text(src), dst, evidence, features, st.first, (self.kind, src))

    def _features(self, st: ScanState) -> dict[str, Any]:
        return {"distinct_ports": len(st.ports), "distinct_hosts": len(st.hosts), "failed": st.failed,
                "succeeded": st.ok, "trw_scanner": st.llr >= self.threshold, "scanner_user_agent": st.ua,
                "odd_tcp_flags": st.odd, "http_errors": st.herr, "http_requests": st.hreq}


def _scan_type(st: ScanState, nports: int) -> str:
    """Name the scan by what it touched and how: many hosts on a port or two (or pings) is host
    discovery; otherwise the probe kind that made most first contacts (SYN scans keep their old names)."""
    probes = st.probes
    hosts = len(st.hosts)
    if hosts > nports and (nports <= 3 or probes[P_PING] * 2 >= sum(probes)):
        return "host sweep"
    kind = max(range(5), key=lambda k: probes[k])
    if kind == 0 or not probes[kind]:
        return "horizontal sweep" if hosts > nports else "vertical sweep"
    return PROBE_SCANS[kind]
