#!/usr/bin/env bash
# FIM benchmark: govwatch fim scan vs `aide --init/--check` (sha256 only) vs `find | xargs sha256sum`, in one run,
# on a generated web-root-like tree; then realtime latency (file closed -> event in the spool) at 500 changes/s.
# Then the watcher's memory on a tree of MEM_FILES small files (default 100000; 0 skips it).
# Usage: bench/fim.sh [FILES (default 20000)] [RUNS (default 3)]   env: GW (govwatch binary), PY (python), MEM_FILES
set -uo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-20000}; RUNS=${2:-3}
GW=${GW:-$(command -v govwatch || echo /tmp/gwvenv/bin/govwatch)}
PY=${PY:-$(dirname "$GW")/python}
command -v aide >/dev/null || { echo "aide is not installed (apt-get install aide)"; exit 2; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
T=$W/www; mkdir -p "$T"
python3 bench/fim_tree.py "$T" "$FILES"
echo "tree: $(find "$T" -type f | wc -l) files, $(du -sm "$T" | cut -f1) MB"
cat >"$W/aide.conf" <<A
database_in=file:$W/aide.db
database_out=file:$W/aide.db.new
gzip_dbout=no
R = p+i+n+u+g+s+m+c+sha256
$T R
A
"$GW" fim scan "$T" --db "$W/check.db" --init 2>/dev/null
aide -c "$W/aide.conf" --init >/dev/null 2>&1; mv "$W/aide.db.new" "$W/aide.db"
python3 - "$GW" "$T" "$W" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time
gw, tree, w, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmds = {
    "govwatch init": f"rm -f {w}/b.db*; {gw} fim scan {tree} --db {w}/b.db --init",
    "aide --init": f"aide -c {w}/aide.conf --init",
    "find|sha256sum": f"find {tree} -type f -print0 | xargs -0 sha256sum",
    "govwatch check": f"{gw} fim scan {tree} --db {w}/check.db",
    "aide --check": f"aide -c {w}/aide.conf --check",
}
times = {k: [] for k in cmds}; rss = {}
for _ in range(runs):
    for name, cmd in cmds.items():
        start = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "sh", "-c", cmd + " >/dev/null 2>/dev/null"],
                             capture_output=True, text=True)
        times[name].append(time.perf_counter() - start)
        rss[name] = max(rss.get(name, 0), int(out.stderr.strip().splitlines()[-1]))
med = {k: statistics.median(v) for k, v in times.items()}
for name in cmds:
    print(f"{name:16s} {med[name]:7.3f} s   peak RSS {rss[name] / 1024:6.1f} MiB")
print(f"baseline: {med['aide --init'] / med['govwatch init']:.2f}x faster than aide --init (goal 4x), "
      f"{med['find|sha256sum'] / med['govwatch init']:.2f}x faster than find|sha256sum")
print(f"re-check: {med['aide --check'] / med['govwatch check']:.2f}x faster than aide --check (goal 20x)")
PY
echo "realtime (500 changes/s, file closed -> event committed to the spool):"
"$PY" bench/fim_latency.py "$T" "$W/agent" --rate 500 --seconds 4 --human 2>/dev/null
MEM_FILES=${MEM_FILES:-100000}
if [[ $MEM_FILES -gt 0 ]]; then
  M=$W/mem; mkdir -p "$M/www"
  python3 bench/fim_tree.py "$M/www" "$MEM_FILES" 5 --small
  echo "watcher memory on $MEM_FILES small files ($(du -sm "$M/www" | cut -f1) MB), realtime at 500 changes/s:"
  "$PY" bench/fim_latency.py "$M/www" "$M/agent" --rate 500 --seconds 2 --human 2>/dev/null
fi
