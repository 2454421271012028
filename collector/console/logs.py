"""Evidence from the logs watcher: the log lines behind a finding, and the packet view of the same source.

A web-shell incident gains `requests` (the lines that used the file), a login-guessing incident `findings`
(each with `packet_view`: the traffic incidents naming the same source). Lines are shown as the server logged
them, escaped, with a bounded sample (the agent sends at most ten per event).
"""

from __future__ import annotations

from typing import Any

from govwatch.collector.console.render import Safe, clock_time, html, join

MAX_LINES = 50


def _lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        evidence = item.get("evidence") if isinstance(item.get("evidence"), dict) else {}
        for line in evidence.get("sample") or []:
            if isinstance(line, dict):
                out.append(line)
    return sorted(out, key=lambda line: line.get("ts") if isinstance(line.get("ts"), int | float) else 0)[-MAX_LINES:]


def _line_row(line: dict[str, Any], w: Any, tz: Any) -> Safe:
    if line.get("outcome"):   # an sshd line
        what = html("<code>{0} {1}</code>", line.get("outcome") or "", line.get("user") or "")
        status = line.get("method") or ""
    else:
        what = html("<code>{0} {1}</code>", line.get("method") or "", line.get("target") or "")
        status = line.get("status") if line.get("status") is not None else ""
    return html('<tr><td>{0}</td><td translate="no">{1}</td><td>{2}</td><td>{3}</td></tr>',
                clock_time(line.get("ts"), tz, w), line.get("src") or "", what, str(status))


def _linked(incidents: Any, w: Any) -> Safe:
    links = [html('<a href="/incidents/{0}">#{0}</a>', int(i["incident"])) for i in incidents or []
             if isinstance(i, dict) and isinstance(i.get("incident"), int)]
    return join(links, ", ") if links else html("{0}", "—")


def log_lines(items: list[dict[str, Any]], w: Any, tz: Any) -> Safe:
    """`requests` and `findings`: one table of the sampled lines, then the packet view when there is one."""
    rows = join(_line_row(line, w, tz) for line in _lines(items))
    seen = [v for item in items for v in (item.get("packet_view") or []) if isinstance(v, dict)]
    packets = html('<p>{0}: {1}</p>', w["packet_view"], _linked(seen, w)) if seen else html("")
    return html('<section class="evidence"><h2>{0}</h2><table class="grid"><tr><th>{1}</th><th>{2}</th>'
                '<th>{3}</th><th>{4}</th></tr>{5}</table>{6}</section>', w["log_lines"], w["updated"],
                w["source"], w["log_request"], w["status"], rows, packets)


def source_traffic(items: list[dict[str, Any]], w: Any, tz: Any) -> Safe:
    """`traffic`: the packet watcher's incidents for the source that used a web shell."""
    rows = join(html('<tr><td translate="no">{0}</td><td>{1}</td></tr>', i.get("src") or "",
                     _linked(i.get("incidents"), w)) for i in items if isinstance(i, dict))
    return html('<section class="evidence"><h2>{0}</h2><table class="grid"><tr><th>{1}</th><th>{2}</th></tr>{3}'
                '</table></section>', w["packet_view"], w["source"], w["incidents"], rows)
