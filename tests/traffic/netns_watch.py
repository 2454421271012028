"""Run the traffic watcher on one interface and print its events as JSON lines (used inside a netns).

Usage: python netns_watch.py INTERFACE DATA_DIR MAX_SECONDS. Prints {"ready": true} once capturing,
then one line per event; exits when stdin closes or after MAX_SECONDS.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from govwatch.agents.traffic.watcher import SCHEMA, TrafficWatcher
from govwatch.schema import validate


def main() -> int:
    interface, data_dir, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cfg = validate({"interface": interface}, SCHEMA, "test")
    lock = threading.Lock()

    def emit(event) -> None:
        with lock:
            sys.stdout.write(json.dumps(event.to_dict()) + "\n")
            sys.stdout.flush()

    watcher = TrafficWatcher(cfg, {"data_dir": data_dir})
    watcher.start(emit)
    deadline = time.time() + 10
    while watcher.stats()["capture"] == "starting" and time.time() < deadline:
        time.sleep(0.05)
    emit_ready = {"ready": watcher.stats()["capture"] == "running", "stats": watcher.stats()}
    with lock:
        sys.stdout.write(json.dumps(emit_ready) + "\n")
        sys.stdout.flush()
    closer = threading.Thread(target=sys.stdin.read, daemon=True)
    closer.start()
    closer.join(timeout=limit)
    watcher.stop()
    with lock:
        sys.stdout.write(json.dumps({"final_stats": watcher.stats()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
