"""Once-a-second flood detectors: SYN, UDP, ICMP, reflection and overall volume, each against a baseline.

Floods are judged per protected address (the victim), since their sources are usually spoofed; the
anomaly names a single source only when one source sends most of the flood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .packets import addr_text
from .report import report
from .rules import REFLECTION_PORTS
from .state import Cusum, Ewma, top

OVERFLOW = b""   # engine.OVERFLOW: the shared counter of sources beyond max_sources

if TYPE_CHECKING:
    from .engine import Engine

D_PKTS, D_BYTES, D_SYN, D_DONE, D_UDP, D_UDPB, D_ICMP, D_ICMPB, D_REFL, D_REFLB, D_SYNACK, D_REQS = range(12)
EMPTY = [0] * 12


def evaluate(engine: Engine, now: float) -> None:
    engine.history.append(engine.dsts)
    targets = set(engine.dsts) | set(engine.syn_cusum) | set(engine.udp_base)
    for dst in targets:
        counters = engine.dsts.get(dst, EMPTY)
        if "syn_flood" in engine.rules:
            _syn_flood(engine, now, dst, counters)
        if "udp_flood" in engine.rules:
            _rate_flood(engine, now, dst, "udp_flood", counters[D_UDP], counters[D_UDPB], engine.src_udp,
                        engine.udp_base)
        if "icmp_flood" in engine.rules:
            _rate_flood(engine, now, dst, "icmp_flood", counters[D_ICMP], counters[D_ICMPB], engine.src_icmp,
                        engine.icmp_base)
    if "reflection" in engine.rules:
        _reflection(engine, now)
    if "volume_spike" in engine.rules:
        _volume(engine, now)


def _sources(per_source: dict[Any, int], total: int) -> tuple[str, list[dict[str, Any]], int]:
    """(reported source, top five sources, number of distinct sources) from one per-source counter."""
    busiest = top(per_source, 6)
    busiest = [(k, v) for k, v in busiest if k != OVERFLOW and v][:5]
    src = addr_text(busiest[0][0]) if busiest and total and busiest[0][1] >= 0.8 * total else "many"
    distinct = len(per_source) - (OVERFLOW in per_source)
    return src, [{"addr": addr_text(k), "packets": v} for k, v in busiest], distinct


def _syn_flood(engine: Engine, now: float, dst: int | bytes, counters: list[int]) -> None:
    cusum = engine.syn_cusum.get(dst)
    if cusum is None:
        if len(engine.syn_cusum) >= 256:
            return
        cusum = engine.syn_cusum[dst] = Cusum(*engine.syn_args)
    syns = counters[D_SYN]
    stat = cusum.update(syns)
    if syns < engine.p["syn_flood"]["min_rate"]:
        return
    recent = [sec.get(dst, EMPTY) for sec in engine.history]
    attempts = sum(c[D_SYN] for c in recent)
    done = sum(c[D_DONE] for c in recent)
    half_open = 1.0 - min(done / attempts, 1.0) if attempts else 0.0
    ports = top(engine.syn_ports, 3)
    share = ports[0][1] / max(sum(engine.syn_ports.values()), 1) if ports else 0.0
    src, busiest, nsources = _sources(engine.src_syn, syns)
    features = {"syn_rate": syns, "cusum": stat, "half_open_ratio": half_open, "top_port_share": share,
                "sources": nsources}
    evidence = {"syn_per_s": syns, "peak_syn_per_s": syns, "baseline_syn_per_s": round(cusum.base.mean, 1),
                "cusum": round(stat, 1), "half_open_ratio": round(half_open, 3), "sources": nsources,
                "top_sources": busiest, "top_ports": [{"port": p, "syns": n} for p, n in ports],
                "explanation": f"{syns} SYN/s to {addr_text(dst)} (baseline {cusum.base.mean:.0f}/s), "
                               f"{half_open:.0%} never completed, from {nsources} source(s)"}
    engine_report(engine, "syn_flood", now, src, dst, features, evidence)


def _rate_flood(engine: Engine, now: float, dst: int | bytes, kind: str, pkts: int, nbytes: int,
                per_source: dict[Any, int], bases: dict[Any, Ewma]) -> None:
    p = engine.p[kind]
    base = bases.get(dst)
    if base is None:
        if len(bases) >= 256:
            return
        base = bases[dst] = Ewma(p["baseline_alpha"], p["initial_baseline"])
    features: dict[str, Any] = {"pps": pkts, "bps": nbytes * 8, "baseline_pps": base.mean}
    rule = engine.rules[kind]
    if kind == "udp_flood" and rule.decide(features):   # loud: is the server answering it?
        features["answered"] = _udp_conversation(engine, per_source, now)
        if features["answered"]:
            features["dns_share"] = engine.udp_ports.get(53, 0) / max(sum(engine.udp_ports.values()), 1)
            features["learned_s"] = now - (engine.first_ts or now)
    if not rule.decide(features):
        base.update(pkts)
        return
    src, busiest, nsources = _sources(per_source, pkts)
    ports = top(engine.udp_ports, 3) if kind == "udp_flood" else []
    label = "UDP" if kind == "udp_flood" else "ICMP"
    evidence = {"packets_per_s": pkts, "peak_packets_per_s": pkts, "bits_per_s": nbytes * 8,
                "peak_bits_per_s": nbytes * 8, "baseline_packets_per_s": round(base.mean, 1),
                "avg_packet_bytes": round(nbytes / max(pkts, 1)), "sources": nsources, "top_sources": busiest,
                "explanation": f"{pkts} {label} packets/s ({nbytes * 8 / 1e6:.1f} Mbit/s) to {addr_text(dst)}, "
                               f"baseline {base.mean:.0f}/s, from {nsources} source(s)"}
    if ports:
        evidence["top_ports"] = [{"port": p_, "packets": n} for p_, n in ports]
    if kind == "udp_flood":
        evidence["answered"] = bool(features.get("answered"))
        if evidence["answered"]:
            evidence["service"] = "dns"
            evidence["explanation"] += " (a query flood against the server's own DNS service)"
    engine_report(engine, kind, now, src, dst, features, evidence)


def _udp_conversation(engine: Engine, per_source: dict[Any, int], now: float) -> bool:
    """Most of the second's UDP comes from clients the server is answering over UDP right now (HTTP/3,
    a VPN, its own DNS service): a busy two-way service, not a flood (spoofed or one-way floods get no
    answers). Only asked on loud seconds, so it may walk the table of recent outbound UDP flows."""
    recent = now - 2.0
    answered = {key[0] for key, ts in engine.asked_udp.items() if ts >= recent}
    total = sum(per_source.values())
    return total > 0 and sum(n for src, n in per_source.items() if src in answered) >= 0.5 * total


def _reflection(engine: Engine, now: float) -> None:
    p = engine.p["reflection"]
    win = engine.window
    if now - win["refl_start"] > p["window"]:
        win.update(refl_start=now - 1.0, reflectors={}, synack_srcs={}, refl=0, reflb=0, synacks=0,
                   refl_ports=set())
    reflectors, synack_srcs = win["reflectors"], win["synack_srcs"]
    win.setdefault("refl_ports", set()).update(engine.refl_ports)
    for src, n in engine.src_reflb.items():
        if n and src != OVERFLOW:
            reflectors[src] = reflectors.get(src, 0) + n
    for src, n in engine.src_synack.items():
        if src != OVERFLOW:
            synack_srcs[src] = synack_srcs.get(src, 0) + n
    victims: dict[bytes, int] = {}
    for dst, c in engine.dsts.items():
        win["refl"] += c[D_REFL]
        win["reflb"] += c[D_REFLB]
        win["synacks"] += c[D_SYNACK]
        if c[D_REFLB] or c[D_SYNACK]:
            victims[dst] = c[D_REFLB] + c[D_SYNACK]
    if not victims:
        return
    elapsed = max(now - win["refl_start"], 1.0)
    features = {"replies": win["refl"], "reflectors": len(reflectors), "reply_bps": win["reflb"] * 8 / elapsed,
                "synacks": win["synacks"], "synack_sources": len(synack_srcs)}
    if not engine.rules["reflection"].decide(features):
        return
    dst = top(victims, 1)[0][0]
    services = sorted({REFLECTION_PORTS.get(port, str(port)) for port in win["refl_ports"]})
    if win["synacks"]:
        services.append("tcp-synack")
    busiest = top(reflectors or synack_srcs, 5)
    evidence = {"services": services, "replies": win["refl"], "reply_bits_per_s": round(features["reply_bps"]),
                "peak_reply_bits_per_s": round(features["reply_bps"]), "reflectors": len(reflectors),
                "unsolicited_synacks": win["synacks"], "synack_sources": len(synack_srcs),
                "avg_reply_bytes": round(win["reflb"] / max(win["refl"], 1)),
                "top_reflectors": [{"addr": addr_text(k), "bytes": v} for k, v in busiest],
                "explanation": f"{win['refl']} unsolicited {'/'.join(services)} replies "
                               f"({features['reply_bps'] / 1e6:.2f} Mbit/s) from {len(reflectors)} reflectors and "
                               f"{win['synacks']} unsolicited SYN-ACKs in {elapsed:.0f}s"}
    engine_report(engine, "reflection", now, "many" if len(busiest) > 1 else addr_text(busiest[0][0]), dst,
                  features, evidence)


def _volume(engine: Engine, now: float) -> None:
    p = engine.p["volume_spike"]
    pps, bps = engine.sec_pkts, engine.sec_bytes * 8
    base, base_bps = engine.volume.baseline(now), engine.volume_bps.baseline(now)
    loud = pps >= p["factor"] * base.mean and pps >= p["min_pps"]
    if loud and _known_transfer(engine):
        return   # a download, copy or upload with a peer the server talks to: neither a spike nor normal
    sustained = engine.volume_run + 1.0 if loud else 0.0
    features = {"pps": pps, "baseline_pps": base.mean, "baseline_std": base.std, "learned_s": engine.learned_s,
                "sustained_s": sustained}
    engine.volume_run = sustained
    if engine.rules["volume_spike"].decide(features):
        evidence = {"packets_per_s": pps, "peak_packets_per_s": pps, "bits_per_s": bps, "peak_bits_per_s": bps,
                    "baseline_packets_per_s": round(base.mean, 1), "baseline_bits_per_s": round(base_bps.mean),
                    "sustained_s": sustained, "explanation": f"{pps} packets/s ({bps / 1e6:.1f} Mbit/s) for "
                    f"{sustained:.0f}s against a learned {base.mean:.0f} packets/s at this hour"}
        engine_report(engine, "volume_spike", now, "many", "many", features, evidence, now - sustained)
        return
    if not sustained:
        engine.volume.update(now, pps)
        engine.volume_bps.update(now, bps)
        engine.learned_s += 1.0


def _known_transfer(engine: Engine) -> bool:
    """Most of the second's traffic is a few bulk transfers with peers in a two-way conversation the
    server opened (package downloads, its own uploads) or accepted with a full handshake (an admin's scp,
    a visitor's large download). Only asked on loud seconds, so it may walk the per-source counters."""
    inbound = sum(engine.srcs.values())
    if inbound < 0.2 * engine.sec_pkts:
        return False   # one-way output from the server (or nothing seen coming back): judge it as volume
    busiest = top(engine.srcs, 3)
    return all(src in engine.peers for src, _n in busiest) and sum(n for _s, n in busiest) >= 0.8 * inbound


def engine_report(engine: Engine, kind: str, now: float, src: str, dst: bytes | str, features: dict[str, Any],
                  evidence: dict[str, Any], start: float | None = None) -> None:
    dst_text = dst if isinstance(dst, str) else addr_text(dst)
    report(engine, kind, now, src, dst_text, features, evidence, start, key=(kind, dst_text))
