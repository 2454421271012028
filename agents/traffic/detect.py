"""Per-connection hooks and the once-a-second evaluation of the per-source detectors.

Hooks run on the rarer packets (first contacts, request heads, server replies); `evaluate` turns
tables into feature records, asks each rule's `decide`, and reports matches with their explanation.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

from . import floods, logins
from .packets import addr_text
from .report import home_text, report
from .state import top

if TYPE_CHECKING:
    from .engine import Engine

SC_FIRST, SC_LAST, SC_PORTS, SC_HOSTS, SC_FAILED, SC_OK, SC_LLR, SC_UA, SC_ODD, SC_HERR, SC_HREQ, SC_FPORTS, \
    SC_PROBES = range(13)


def trw_step(engine: Engine, st: list, success: bool) -> None:
    """Threshold random walk (Jung et al. 2004): each outcome moves the scanner/benign likelihood ratio."""
    p = engine.p["port_scan"]
    if success:
        st[SC_OK] += 1
        st[SC_LLR] += math.log(p["theta1"] / p["theta0"])
    else:
        st[SC_FAILED] += 1
        st[SC_LLR] += math.log((1 - p["theta1"]) / (1 - p["theta0"]))
    st[SC_LLR] = max(st[SC_LLR], math.log((1 - p["beta"]) / (1 - p["alpha"])))


def outcome(engine: Engine, src: int | bytes, success: bool, port: int = -1) -> None:
    """A contact from `src` was answered or refused. Failures count once per service port (TRW judges
    distinct first contacts): a browser whose six connections and their retries are refused while the
    web server restarts made one failed contact, a scanner makes one per port."""
    st = engine.scan.get(src)
    if st is None:
        return
    if st.__class__ is tuple and not success:  # a one-contact source stays compact: count the failure
        if port != st[2] or not st[4]:
            engine.scan[src] = (st[0], st[1], st[2], st[3], st[4] + 1)
        return
    st = engine.scan_state(src)
    if not success and port >= 0:
        failed = st[SC_FPORTS]
        if port in failed:
            return
        if len(failed) < 1024:
            failed.add(port)
    trw_step(engine, st, success)


def unreachable(engine: Engine, client: bytes, buf: bytes, pstart: int, pend: int) -> None:
    """The server answered a probe with ICMP unreachable: a failed first contact for that client, on the
    port named in the quoted datagram (IPv4 header + its first 8 bytes, after the 4 unused bytes)."""
    quoted = pstart + 4
    port = -1
    if pend >= quoted + 20 and buf[quoted] >> 4 == 4:
        at = quoted + (buf[quoted] & 15) * 4 + 2
        if pend >= at + 2:
            port = buf[at] << 8 | buf[at + 1]
    outcome(engine, client, False, port)


def http_request(engine: Engine, ts: float, src: bytes, head: bytes, sport: int = 0) -> None:
    """A request head from a client: scanner user agents, login form posts, request counts."""
    scanner = engine.scanner_ua is not None and engine.scanner_ua(head, 0, 2048) is not None
    st = engine.scan_state(src, ts if scanner else None)
    if st is not None:
        st[SC_HREQ] += 1
        st[SC_UA] += scanner
    if head.startswith(b"POST ") and engine.login_paths:
        lowered = head[:2048].lower()
        path = lowered[5:lowered.find(b" ", 5)]
        if any(path.startswith(login) for login in engine.login_paths):
            engine.login_pending.put((src, sport), ts)   # judged by the reply: see logins.form_reply
    reqs = engine.window.setdefault("reqs", {})
    if src in reqs or len(reqs) < engine.max_sources:
        reqs[src] = reqs.get(src, 0) + 1


def response(engine: Engine, ts: float, buf: bytes, client: bytes, sport: int, pstart: int, pend: int,
             dport: int = 0) -> None:
    """Server data towards a client: HTTP error statuses and failed-login replies are probe evidence;
    a login-accepted reply clears that connection of suspicion."""
    if buf.startswith(b"HTTP/1.", pstart):
        status = buf[pstart + 9:pstart + 10]
        if status == b"4":
            st = engine.scan_state(client)
            if st is not None:
                st[SC_HERR] += 1
        if engine.login_pending:
            logins.form_reply(engine, ts, client, dport, status)
        return
    logins.service_reply(engine, ts, buf, client, sport, pstart, pend, dport)


def outbound_answered(engine: Engine, home: int | bytes, remote: int | bytes) -> None:
    """A host the server contacted answered (SYN-ACK, or a reply to its query): not a scan target."""
    entry = engine.outbound.get(home)
    if entry is not None and remote in entry[1] and len(entry[3]) < 4096:
        entry[3].add(remote)


def outbound_contact(engine: Engine, ts: float, src: bytes, dst: bytes, port: int) -> None:
    """The server opened a connection (or a new UDP flow): count fan-out, look for clockwork beacons."""
    p = engine.p["outbound_anomaly"]
    entry = engine.outbound.get(src)
    if entry is None or ts - entry[0] > p["window"]:
        entry = engine.outbound.put(src, [ts, {}, ts, set()])   # start, host -> ports, last, answered hosts
    hosts = entry[1]
    ports = hosts.get(dst)
    if ports is None and len(hosts) < 4096:
        ports = hosts[dst] = set()
    if ports is not None and len(ports) < 1024:
        ports.add(port)
    entry[2] = ts
    if port in p["ignore_ports"]:
        return
    key = (src, dst, port)
    times = engine.beacons.get(key)
    if times is None:
        times = engine.beacons.put(key, deque(maxlen=int(p["beacon_min_count"]) * 2))
    if times and ts - times[-1] < 1.0:
        return  # a retransmitted SYN, not a new connection
    times.append(ts)


def evaluate(engine: Engine, now: float) -> None:
    """Close the second ending at `now`: run every detector, then expire tables and quiet anomalies."""
    engine.now = now
    floods.evaluate(engine, now)
    if "port_scan" in engine.rules:
        _pending(engine, now)
        _port_scan(engine, now)
    if "brute_force" in engine.rules:
        logins.evaluate(engine, now)
    if "http_flood" in engine.rules:
        _http_flood(engine, now)
    if "outbound_anomaly" in engine.rules:
        _outbound(engine, now)
    for plugin in engine.plugins:
        plugin.second(now, engine.table)
    engine.conns.expire(now - 600.0, 1)   # request heads unfinished for ten minutes are forgotten
    engine.tracker.sweep(now)


def _pending(engine: Engine, now: float) -> None:
    """First contacts nobody answered within the timeout fail, if we can see the server answer at all."""
    timeout = engine.p["port_scan"]["pending_timeout"]
    two_way = now - engine.last_out < 10.0
    table, answered, cutoff = engine.halfopen, engine.answered, now - timeout
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
                outcome(engine, key >> 32, False, key & 0xFFFF)
            else:
                outcome(engine, key[0], False, key[2])


def _port_scan(engine: Engine, now: float) -> None:
    p = engine.p["port_scan"]
    threshold = math.log(p["beta"] / p["alpha"])
    rule = engine.rules["port_scan"]
    compact_verdicts: dict[int, bool] = {}   # one-contact sources differ only in their failure count
    scan = engine.scan
    for src in engine.srcs:
        st = scan.get(src)
        if st is None:
            continue
        if st.__class__ is tuple:
            verdict = compact_verdicts.get(st[4])
            if verdict is None:
                verdict = compact_verdicts[st[4]] = rule.decide(_scan_features(expanded(engine, st), threshold))
            if not verdict:
                continue
            st = engine.scan_state(src)
        features = _scan_features(st, threshold)
        if not rule.decide(features):
            continue
        sweep = features["distinct_ports"] >= p["distinct_ports"] or features["distinct_hosts"] >= p["distinct_hosts"] \
            or (features["trw_scanner"] and features["failed"] >= p["min_failed"])
        ports = sorted(st[SC_PORTS])
        hosts = [addr_text(h) for h in list(st[SC_HOSTS])[:10]]
        scan_type = _scan_type(st, len(ports)) if sweep else "service/OS fingerprinting"
        elapsed = max(st[SC_LAST] - st[SC_FIRST], 1e-3)
        evidence = {"scan_type": scan_type, "distinct_ports": len(ports), "distinct_hosts": len(st[SC_HOSTS]),
                    "ports_sample": ports[:20], "port_range": [ports[0], ports[-1]] if ports else [],
                    "failed_contacts": st[SC_FAILED], "answered_contacts": st[SC_OK],
                    "probes_per_s": round(len(ports) / elapsed, 1), "scanner_user_agent_requests": st[SC_UA],
                    "odd_tcp_flag_probes": st[SC_ODD], "http_errors": st[SC_HERR], "http_requests": st[SC_HREQ],
                    "targets": hosts}
        evidence["explanation"] = (
            f"{addr_text(src)} contacted {len(ports)} ports on {len(st[SC_HOSTS])} host(s) in {elapsed:.1f}s, "
            f"{st[SC_FAILED]} failed ({scan_type})" if sweep else
            f"{addr_text(src)} probed like a fingerprinting tool: {st[SC_UA]} scanner user-agent requests, "
            f"{st[SC_ODD]} odd-flag TCP probes, {st[SC_HERR]}/{st[SC_HREQ]} HTTP errors")
        dst = hosts[0] if len(hosts) == 1 else "many"
        report(engine, "port_scan", now, addr_text(src), dst, features, evidence, st[SC_FIRST],
               key=("port_scan", src))


PROBE_SCANS = ("vertical sweep", "UDP scan", "ACK scan", "FIN/NULL/Xmas scan", "Maimon scan", "host sweep")


def _scan_type(st: list, nports: int) -> str:
    """Name the scan by what it touched and how: many hosts on a port or two (or pings) is host
    discovery; otherwise the probe kind that made most first contacts (SYN scans keep their old names)."""
    probes = st[SC_PROBES]
    hosts = len(st[SC_HOSTS])
    if hosts > nports and (nports <= 3 or probes[5] * 2 >= sum(probes)):
        return "host sweep"
    kind = max(range(5), key=lambda k: probes[k])
    if kind == 0 or not probes[kind]:
        return "horizontal sweep" if hosts > nports else "vertical sweep"
    return PROBE_SCANS[kind]


def _scan_features(st: list, threshold: float) -> dict[str, Any]:
    return {"distinct_ports": len(st[SC_PORTS]), "distinct_hosts": len(st[SC_HOSTS]), "failed": st[SC_FAILED],
            "succeeded": st[SC_OK], "trw_scanner": st[SC_LLR] >= threshold, "scanner_user_agent": st[SC_UA],
            "odd_tcp_flags": st[SC_ODD], "http_errors": st[SC_HERR], "http_requests": st[SC_HREQ]}


def expanded(engine: Engine, compact: tuple) -> list:
    """The full scan state a compact (one-contact) entry stands for, without storing it."""
    first, last, port, host, failures = compact
    full = [first, last, {port} if port >= 0 else set(), {host}, 0, 0, 0.0, 0, 0, 0, 0,
            {port} if failures else set(), [0] * 6]
    for _ in range(failures):
        trw_step(engine, full, False)
    return full


def _http_flood(engine: Engine, now: float) -> None:
    p = engine.p["http_flood"]
    win = engine.window
    if now - win["http_start"] > p["window"]:
        _learn_busiest_source(engine, win.get("reqs", {}), win["http"])
        win["http_start"], win["http"], win["reqs"] = now - 1.0, {}, {}
    reqs, conns = win.get("reqs", {}), win["http"]
    rps = sum(engine.src_reqs.values())
    base, usual = engine.http_base, engine.http_source_base.mean
    elapsed = now - win["http_start"]
    learned = now - (engine.first_ts or now)
    floor = min(p["min_requests_per_source"], p["min_learned_requests_per_source"])
    for src in set(reqs) | set(conns):
        count = max(reqs.get(src, 0), conns.get(src, 0))
        if count < floor:
            continue
        evidence = {"requests": reqs.get(src, 0), "connections": conns.get(src, 0), "window_s": round(elapsed, 1),
                    "requests_per_s": round(count / max(elapsed, 1.0), 1),
                    "usual_busiest_source_requests": round(usual, 1), "explanation":
                    f"{addr_text(src)} sent {count} HTTP requests/connections in {elapsed:.0f}s "
                    f"(the busiest source usually sends {usual:.0f})"}
        report(engine, "http_flood", now, addr_text(src), home_text(engine),
               {"requests": count, "source_baseline": usual, "learned_s": learned}, evidence, win["http_start"],
               key=("http_flood", src))
    features = {"rps": rps, "baseline_rps": base.mean, "learned_s": now - (engine.first_ts or now)}
    if engine.rules["http_flood"].decide(features):
        busiest = top({k: v for k, v in reqs.items()}, 5)
        evidence = {"requests_per_s": rps, "baseline_rps": round(base.mean, 1), "top_sources":
                    [{"addr": addr_text(k), "requests": v} for k, v in busiest],
                    "explanation": f"{rps} HTTP requests/s against a baseline of {base.mean:.0f}/s"}
        report(engine, "http_flood", now, "many", home_text(engine), features, evidence,
               key=("http_flood", "many"))
    else:
        base.update(rps)


def _learn_busiest_source(engine: Engine, reqs: dict, conns: dict) -> None:
    """After each window, learn how much the busiest source usually sends (a NAT gateway of a ministry
    office is always busy), unless that window's busiest source was itself reported as a flood."""
    busiest = max((max(reqs.get(s, 0), conns.get(s, 0)) for s in set(reqs) | set(conns)), default=0)
    features = {"requests": busiest, "source_baseline": engine.http_source_base.mean,
                "learned_s": engine.now - (engine.first_ts or engine.now)}
    if not engine.rules["http_flood"].decide(features):
        engine.http_source_base.update(busiest)


def _outbound(engine: Engine, now: float) -> None:
    p = engine.p["outbound_anomaly"]
    for src, (start, hosts, last, answered) in list(engine.outbound.items())[-64:]:
        if last < now - 1.0:
            continue
        # a sweep hits mostly silent addresses; mail delivery, feeds and APIs answer
        silent = [h for h in hosts if h not in answered] if len(hosts) >= p["distinct_hosts"] else []
        widest = max((len(v) for v in hosts.values()), default=0)
        features = {"distinct_hosts": len(silent), "distinct_ports": widest}
        evidence = {"pattern": "scanning", "distinct_hosts": len(hosts), "unanswered_hosts": len(silent),
                    "max_ports_per_host": widest, "hosts_sample": [addr_text(h) for h in (silent or list(hosts))[:10]],
                    "explanation": f"this server opened connections to {len(hosts)} hosts ({len(silent)} never "
                    f"answered; up to {widest} ports on one) in {now - start:.0f}s"}
        report(engine, "outbound_anomaly", now, addr_text(src), "many", features, evidence, start,
               key=("outbound_anomaly", src, "scan"))
    for (src, dst, port), times in list(engine.beacons.items())[-256:]:
        if len(times) < p["beacon_min_count"] or times[-1] < now - 1.0 or _internal(engine, dst):
            continue
        gaps = [b - a for a, b in zip(times, list(times)[1:], strict=False)]
        period = statistics.fmean(gaps)
        cv = statistics.pstdev(gaps) / period if period > 0 else 1.0
        features = {"beacon_count": len(times), "beacon_period_s": period, "beacon_cv": cv}
        evidence = {"pattern": "beaconing", "remote": addr_text(dst), "port": port, "period_s": round(period, 2),
                    "jitter_cv": round(cv, 3), "connections": len(times), "explanation":
                    f"this server connects to {addr_text(dst)}:{port} every {period:.1f}s like clockwork"}
        report(engine, "outbound_anomaly", now, addr_text(src), addr_text(dst), features, evidence, times[0],
               key=("outbound_anomaly", src, dst, port))


def _internal(engine: Engine, addr: int | bytes) -> bool:
    """Clockwork calls inside the organisation are monitoring, backups and cluster heartbeats; a
    command-and-control server is out on the internet."""
    ip = ip_address(addr)
    return any(ip.version == net.version and ip in net for net in engine.beacon_ignore)
