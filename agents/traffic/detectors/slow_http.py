"""slow_http: slowloris-style requests whose headers never end, held open from one source.

A slowloris client opens many connections, sends part of a request head and then one more header line
every few seconds, so the server keeps a worker per connection waiting. The engine keeps every request
head that has not ended (`SecondTable.partial_http`); this detector counts, per source, the ones older
than `header_timeout` and those that trickled (a header fragment after a pause of a second or more).
A browser finishes its request head in one segment; a slow mobile link finishes it within seconds.
"""

from __future__ import annotations

from typing import Any

from ..packets import addr_text
from ..table import Detector, SecondTable, register


@register
class SlowHttp(Detector):
    kind = "slow_http"
    PARAMS = {"header_timeout": 10.0, "min_trickled": 1, "min_held": 5, "quiet": 30.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        return f.get("trickled", 0) >= p["min_trickled"] or f.get("held", 0) >= p["min_held"]

    def second(self, now: float, table: SecondTable) -> None:
        timeout = self.p["header_timeout"]
        per_source: dict[Any, list] = {}   # src -> [held, trickled, oldest age, bytes, dst, first seen]
        for (src, _sport, dst, _dport), (start, _last, _segments, nbytes, pauses) in table.partial_http.items():
            age = now - start
            if age >= timeout:
                stats = per_source.setdefault(src, [0, 0, 0.0, 0, dst, start])
                stats[0] += 1
                stats[1] += pauses > 0
                stats[2] = max(stats[2], age)
                stats[3] += nbytes
                stats[5] = min(stats[5], start)
        for src, (held, trickled, oldest, nbytes, dst, first) in per_source.items():
            evidence = {"held_connections": held, "trickled_connections": trickled, "max_held_s": round(oldest, 1),
                        "bytes_sent": nbytes, "explanation": (
                            f"{addr_text(src)} holds {held} HTTP request(s) with unfinished headers for up to "
                            f"{oldest:.0f}s, {trickled} trickling header lines (slowloris)")}
            self.report(self.kind, now, addr_text(src), addr_text(dst), evidence, {"held": held, "trickled": trickled},
                        first, (self.kind, src))
