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


def ports(items: list[dict[str, Any]], w: Any = None) -> list[str]:
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
                label = _port_label(entry, w)
                if label:
                    seen.setdefault(label, None)
    return list(seen)[:40]


def _port_label(entry: Any, w: Any = None) -> str:
    if isinstance(entry, dict):
        count = next((f" ({_count(float(entry[k]), k, w) if w else f'{entry[k]} {k}'})" for k in _COUNT_KEYS
                      if k in entry and isinstance(entry[k], int | float)), "")
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


def human_rate(key: str, value: float, w: Any = None) -> str:
    """A rate in words: bit rates scaled (kbit/s, Mbit/s, Gbit/s), others as plain numbers."""
    digits = getattr(w, "digits", str)
    if "bits_per_s" in key:
        for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
            if value >= size:
                return digits(f"{value / size:.1f}") + f" {unit}"
        return digits(f"{value:.0f}") + " bit/s"
    return digits(f"{value:,.1f}".rstrip("0").rstrip("."))


_RATE_WORDS = {"syn": "unit_syns", "packets": "unit_packets", "pkts": "unit_packets", "requests": "unit_requests",
               "req": "unit_requests", "bytes": "unit_bytes"}


def rate_label(key: str, w: Any) -> Safe:
    """`peak_syn_per_s` -> "SYN packets per second (peak)"; a figure the catalogue has no words for is shown
    as its key, in code type."""
    stem, when_ = key, ""
    for prefix, word in (("peak_", "rate_peak"), ("baseline_", "rate_baseline")):
        if stem.startswith(prefix):
            stem, when_ = stem[len(prefix):], w[word]
    per = "per_second" if stem.endswith("_per_s") else "per_minute" if stem.endswith("_per_min") else ""
    metric = stem.rsplit("_per_", 1)[0]
    if not per or metric not in _RATE_WORDS:
        return html("<code>{0}</code>", key) if "bits_per_s" not in key else html("{0}", when_ or w["rate_now"])
    label = w[per].format(n=w[_RATE_WORDS[metric]])
    return html("{0} ({1})", label, when_) if when_ else html("{0}", label)


def _other(items: list[dict[str, Any]]) -> dict[str, Any]:
    latest = (sorted(items, key=lambda i: i.get("ts") or 0) or [{}])[-1].get("evidence") or {}
    skip = set(_SOURCE_LISTS) | set(_PORT_KEYS) | {"explanation"}
    return {k: v for k, v in latest.items() if k not in skip and not _rate_key(k)}


def words_for(value: Any, w: Any) -> str:
    """A figure as a person writes it: no Python lists, dicts, True/False or None on the page."""
    if isinstance(value, bool):
        return w["yes"] if value else w["no"]
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return w.number(value, 0 if float(value).is_integer() else 2)
    if isinstance(value, list | tuple):
        return ", ".join(words_for(v, w) for v in value[:20]) + (" …" if len(value) > 20 else "")
    if isinstance(value, dict):
        return "; ".join(f"{k}: {words_for(v, w)}" for k, v in list(value.items())[:20])
    return str(value)


def _count(count: float, unit: str, w: Any) -> str:
    if not unit:
        return ""
    key = f"unit_{unit}"
    return f"{w.number(count)} {w[key] if w.has(key) else unit}"


def _row(item: dict[str, Any], w: Any, tz: Any) -> Safe:
    state = str(item.get("state") or "")
    src = item.get("src") or ""
    return html('<tr><td data-label="{l0}">{0}</td><td data-label="{l1}">{1}</td><td data-label="{l2}" '
                'translate="no">{2}</td><td data-label="{l3}" translate="no">{3}</td><td data-label="{l4}" '
                'lang="en">{4}</td></tr>', clock_time(item.get("ts"), tz, w),
                w[f"state_{state}"] if w.has(f"state_{state}") else state,
                w["many_sources"] if src == "many" else src, item.get("dst") or "",
                (item.get("evidence") or {}).get("explanation", ""), l0=w["updated"], l1=w["state"],
                l2=w["source"], l3=w["destination"], l4=w["explanation"])


def anomalies(items: list[dict[str, Any]], w: Any, tz: Any) -> Safe:
    """Who (top sources), where (ports), how fast (rates): each block only when the evidence has it."""
    rows = join(_row(i, w, tz) for i in sorted(items, key=lambda i: i.get("ts") or 0, reverse=True))
    found = top_sources(items)
    sources = html('<div><h3>{0}</h3><table class="grid">{1}</table></div>', w["top_sources"], join(
        html("<tr><td><code>{0}</code></td><td>{1}</td></tr>", addr, _count(count, unit, w))
        for addr, count, unit in found)) if found else Safe("")
    port_list, rate_list = ports(items, w), rates(items)
    port_part = html('<h3>{0}</h3><p translate="no">{1}</p>', w["ports"], join(
        html('<span class="chip">{0}</span>', p) for p in port_list)) if port_list else Safe("")
    rate_part = html('<h3>{0}</h3><table class="grid">{1}</table>', w["rates"], join(
        html("<tr><th>{0}</th><td>{1}</td></tr>", rate_label(k, w), human_rate(k, v, w))
        for k, v in rate_list.items())) if rate_list else Safe("")
    figures = _other(items)
    other = html('<details><summary>{0}</summary><table class="grid">{1}</table></details>', w["other_evidence"],
                 join(html("<tr><th><code>{0}</code></th><td translate=\"no\">{1}</td></tr>", k, words_for(v, w))
                      for k, v in figures.items())) if figures else Safe("")
    side = html("<div>{0}{1}</div>", port_part, rate_part) if port_list or rate_list else Safe("")
    return html(
        '<section class="evidence"><h2>{t_anom}</h2><div class="cols">{sources}{side}</div>'
        '<div class="scroll"><table class="grid"><thead><tr><th>{t_when}</th><th>{t_state}</th><th>{t_source}</th>'
        '<th>{t_dst}</th><th>{t_expl}</th></tr></thead><tbody>{rows}</tbody></table></div>{other}</section>',
        t_anom=w["anomalies"], sources=sources, side=side, t_when=w["updated"], t_state=w["state"],
        t_source=w["source"], t_dst=w["destination"], t_expl=w["explanation"], rows=rows, other=other)
