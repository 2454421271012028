"""Logs watcher benchmark, all figures from one run (the machine may be shared: read the ratios):

1. lines/s parsed and judged by `logs analyze`'s engine on a generated nginx combined log (a busy site:
   many visitors, crawlers, assets, with probes, login guessing and a flood mixed in), per CPU-second too;
2. anchors on the same lines: a bare Python loop that only splits each line (the floor of touching a line
   in Python) and a typical non-possessive combined-log regex (parse only, no judging);
3. probe matching: the Aho-Corasick automaton against one `re` alternation of the same words;
4. watcher memory: a LogsWatcher in its own process following the whole log from its start (RSS before
   it starts, peak RSS after), and the engine's tracemalloc peak over 300,000 lines (about 100,000
   distinct client addresses).

Run: `python bench/logs.py [--lines 1000000]`. The log goes to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "logs"))

NAIVE = re.compile(r'(\S+) \S+ (\S+) \[([^\]]+)\] "(.*?)" (\d{3}) (\S+) "(.*?)" "(.*?)"')


def build_log(path: str, total: int) -> None:
    """A busy day: visitors with assets, crawlers, and a few attacks, time-ordered, `total` lines."""
    import loggen as g

    rng = random.Random(5)
    pages = [f"/news/{i}.html" for i in range(3000)] + ["/", "/km/", "/en/contact.html"]
    agents = [g.BROWSER, g.GOOGLEBOT, g.BINGBOT, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"]
    stamps: dict[int, str] = {}
    with open(path, "w") as out:
        for i in range(total):
            ts = g.T0 + i * 0.004
            sec = int(ts)
            stamp = stamps.get(sec) or stamps.setdefault(sec, g.clf(sec))
            src = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 100)}"
            roll = rng.random()
            if roll < 0.002:
                src = "203.0.113.9" if roll < 0.001 else src   # half from one prober, half scattered
                target, method, status = rng.choice(["/.env", "/.git/config", "/wp-config.php.bak", "/adminer.php",
                                                     "/?id=1%27%20union%20select%201--"]), "GET", 404
            elif roll < 0.004:
                src = "203.0.113.7" if roll < 0.003 else src   # one guesser among scattered logins
                target, method, status = "/wp-login.php", "POST", 200
            elif roll < 0.5:
                target, method, status = rng.choice(g.ASSETS), "GET", 304
            else:
                target, method, status = rng.choice(pages) + ("?page=2" if roll > 0.95 else ""), "GET", 200
            out.write(f'{src} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {rng.randrange(200, 90000)} '
                      f'"-" "{rng.choice(agents)}"\n')


def rss_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def judged(path: str) -> tuple[float, float, int, int, int]:
    """(wall s, cpu s, lines, findings, rss growth KiB) for the full engine."""
    from govwatch.agents.logs import rules as log_rules
    from govwatch.agents.logs.analyze import analyze

    rules = log_rules.load(os.path.join(HERE, "..", "rules", "logs"))
    before = rss_kib()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = analyze([path], rules, lambda f: None, "nginx")
    return (time.perf_counter() - wall, time.process_time() - cpu, summary.lines, summary.findings,
            rss_kib() - before)


def anchor_split(path: str) -> float:
    """CPU seconds to read and split every line (on a shared machine CPU time is the fair clock)."""
    started = time.process_time()
    with open(path, "rb") as handle:
        for raw in handle:
            raw.decode("utf-8", "replace").split(" ")
    return time.process_time() - started


def anchor_naive_regex(path: str) -> float:
    """CPU seconds for a typical (backtracking) combined-log regex, parse only."""
    started = time.process_time()
    match = NAIVE.match
    with open(path, "rb") as handle:
        for raw in handle:
            match(raw.decode("utf-8", "replace"))
    return time.process_time() - started


def probe_matching(count: int = 200_000) -> tuple[float, float]:
    """Seconds for `count` distinct targets: the automaton vs one re alternation of the same words."""
    from govwatch.agents.logs.rules import PROBES
    from govwatch.agents.logs.web import automaton

    words = [w.lower() for items in PROBES.values() for w in items]
    auto = automaton(PROBES)
    alternation = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    targets = [f"/news/2026/{i}/ministry-announces-budget-for-rural-roads.html?page={i % 7}" for i in range(count)]
    started = time.process_time()
    for t in targets:
        next(auto.iter(t), None)
    ac = time.process_time() - started
    started = time.process_time()
    for t in targets:
        alternation.search(t)
    return ac, time.process_time() - started


def memory(path: str, lines: int) -> tuple[float, int]:
    """tracemalloc peak (MiB) of an engine fed `lines` lines, and the sources it tracked."""
    from govwatch.agents.logs import rules as log_rules
    from govwatch.agents.logs.engine import Engine

    engine = Engine(log_rules.load(os.path.join(HERE, "..", "rules", "logs")), lambda s, f: None)
    handle = engine.access_handler("nginx")
    tracemalloc.start()
    with open(path, encoding="utf-8", errors="replace") as log:
        for i, line in enumerate(log):
            if i >= lines:
                break
            handle(line.rstrip("\n"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, engine.stats()["sources_tracked"]


WATCHER = """
import json, os, sys, tempfile, time
from govwatch.agents.logs.watcher import SCHEMA, LogsWatcher
from govwatch.schema import validate
def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) // 1024
path, total, rules = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = validate({"access": [{"path": path}], "from_start": True, "rules": rules, "poll_interval": "50ms"}, SCHEMA, "b")
watcher = LogsWatcher(cfg, {"data_dir": tempfile.mkdtemp()})
before = status("VmRSS:")
started = time.process_time()
watcher.start(lambda event: None)
while watcher.stats()["lines"] < total:
    time.sleep(0.05)
seconds = time.process_time() - started
watcher.stop()
print(json.dumps({"before": before, "peak": status("VmHWM:"), "seconds": seconds}))
"""


def watcher_process(path: str, lines: int) -> dict[str, float]:
    """RSS of a live watcher process following `path` from its start (MiB), and its time."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-c", WATCHER, path, str(lines), os.path.join(HERE, "..", "rules", "logs")],
                          capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "access.log")
    print(f"building {args.lines:,} lines ...", flush=True)
    build_log(path, args.lines)
    wall, cpu, lines, findings, rss = judged(path)
    split_s, naive_s = anchor_split(path), anchor_naive_regex(path)
    ac, alt = probe_matching()
    peak, sources = memory(path, min(lines, 300_000))
    live = watcher_process(path, lines)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"parsed and judged: {lines / wall:,.0f} lines/s ({lines / cpu:,.0f} per CPU-second), "
          f"{findings} findings, RSS +{rss / 1024:.1f} MiB (process max RSS {maxrss:.0f} MiB)")
    print(f"anchor, split only: {lines / split_s:,.0f} lines per CPU-second (govwatch at {split_s / cpu:.2f}x of it)")
    print(f"anchor, naive combined regex, parse only: {lines / naive_s:,.0f} lines per CPU-second "
          f"(govwatch, parsing and judging, at {naive_s / cpu:.2f}x of it)")
    print(f"probe matching, 200,000 targets (CPU): Aho-Corasick {ac * 1000:.0f} ms, re alternation {alt * 1000:.0f} ms "
          f"({alt / ac:.1f}x)")
    print(f"engine memory after 300,000 lines: tracemalloc peak {peak:.1f} MiB, {sources} sources tracked")
    print(f"live watcher process, whole log from its start: RSS {live['before']} MiB before start, peak "
          f"{live['peak']} MiB, {lines / live['seconds']:,.0f} lines per CPU-second followed")


if __name__ == "__main__":
    main()
