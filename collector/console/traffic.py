"""Traffic evidence: who is sending (top sources), to which ports, and how fast (rates).

The traffic detectors put different figures in `evidence` per kind (top_sources, top_reflectors,
top_ports, port, ports_sample, *_per_s, ...); this gathers them into the three questions an analyst
asks, and lists whatever else was sent under "other figures" so nothing is hidden.
"""

from __future__ import annotations

from typing import Any

from govwatch.collector.console.render import Safe, clock_time, html, join

_SOURCE_LISTS = ("top_sources", "top_reflectors")
_PORT_KEYS = ("top_ports", "port", "ports_sample", "port_range", "services", "service")
_COUNT_KEYS = ("packets", "requests", "bytes", "syns", "count")


def _rate_key(key: str) -> bool:
    return "_per_s" in key or key.endswith("_per_min") or key == "cusum"


def top_sources(items: list[dict[str, Any]]) -> list[tuple[str, float, str]]:
    """(address, count, unit), busiest first, merged over every start/update of the anomaly (max per address)."""
    best: dict[str, tuple[float, str]] = {}
    for item in items:
        evidence = item.get("evidence") or {}
        for key in _SOURCE_LISTS:
            for entry in evidence.get(key) or []:
                if not isinstance(entry, dict) or "addr" not in entry:
                    continue
                unit = next((k for k in _COUNT_KEYS if k in entry), "")
                count = float(entry.get(unit) or 0)
                if count >= best.get(str(entry["addr"]), (-1.0, ""))[0]:
                    best[str(entry["addr"])] = (count, unit)
        src = item.get("src")
        if src and src != "many" and src not in best:
            best[str(src)] = (0.0, "")
    return sorted(((a, c, u) for a, (c, u) in best.items()), key=lambda t: -t[1])[:10]


def ports(items: list[dict[str, Any]]) -> list[str]:
    """Ports and services named by the evidence, in first-seen order."""
    seen: dict[str, None] = {}
    for item in items:
        evidence = item.get("evidence") or {}
        for key in _PORT_KEYS:
            value = evidence.get(key)
            values = value if isinstance(value, list) else [value] if value not in (None, "") else []
            if key == "port_range" and len(values) == 2:
                values = [f"{values[0]}–{values[1]}"]
            for entry in values:
                label = _port_label(entry)
                if label:
                    seen.setdefault(label, None)
    return list(seen)[:40]


def _port_label(entry: Any) -> str:
    if isinstance(entry, dict):
        count = next((f" ({entry[k]} {k})" for k in _COUNT_KEYS if k in entry), "")
        return f"{entry.get('port', '?')}{count}"
    return str(entry)


def rates(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Rate figures of the latest evidence, peaks kept at their maximum."""
    out: dict[str, Any] = {}
    for item in sorted(items, key=lambda i: i.get("ts") or 0):
        for key, value in (item.get("evidence") or {}).items():
            if _rate_key(key) and isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = max(out.get(key, value), value) if key.startswith("peak_") else value
    return out


def human_rate(key: str, value: float) -> str:
    if "bits_per_s" in key:
        for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
            if value >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} bit/s"
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def _other(items: list[dict[str, Any]]) -> dict[str, Any]:
    latest = (sorted(items, key=lambda i: i.get("ts") or 0) or [{}])[-1].get("evidence") or {}
    skip = set(_SOURCE_LISTS) | set(_PORT_KEYS) | {"explanation"}
    return {k: v for k, v in latest.items() if k not in skip and not _rate_key(k)}


def anomalies(items: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    rows = join(html("<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
                     clock_time(i.get("ts"), tz), i.get("state") or "", i.get("src") or "", i.get("dst") or "",
                     (i.get("evidence") or {}).get("explanation", ""))
                for i in sorted(items, key=lambda i: i.get("ts") or 0, reverse=True))
    sources = join(html("<tr><td><code>{0}</code></td><td>{1}</td></tr>", addr,
                        f"{count:,.0f} {unit}" if unit else "") for addr, count, unit in top_sources(items))
    rate_rows = join(html("<tr><th>{0}</th><td>{1}</td></tr>", k.replace("_", " "), human_rate(k, v))
                     for k, v in rates(items).items())
    other = join(html("<tr><th>{0}</th><td>{1}</td></tr>", k.replace("_", " "), v) for k, v in _other(items).items())
    port_chips = join(html('<span class="chip">{0}</span>', p) for p in ports(items)) or "—"
    return html(
        '<section class="evidence"><h2>{t_anom}</h2><div class="cols">'
        '<div><h3>{t_src}</h3><table class="grid">{sources}</table></div>'
        '<div><h3>{t_ports}</h3><p>{ports}</p><h3>{t_rates}</h3><table class="grid">{rates}</table></div></div>'
        '<div class="scroll"><table class="grid"><tr><th>{t_when}</th><th>{t_state}</th><th>{t_source}</th>'
        '<th>{t_dst}</th><th>{t_expl}</th></tr>{rows}</table></div>'
        '<details><summary>{t_other}</summary><table class="grid">{other}</table></details></section>',
        t_anom=w["anomalies"], t_src=w["top_sources"], sources=sources, t_ports=w["ports"], ports=port_chips,
        t_rates=w["rates"], rates=rate_rows, t_when=w["updated"], t_state=w["state"], t_source=w["source"],
        t_dst=w["destination"], t_expl=w["explanation"], rows=rows, t_other=w["other_evidence"], other=other)
