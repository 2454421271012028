"""Long-running commands (`agent run`, `collector run`) stop cleanly on SIGTERM (systemd) and Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT arrives."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None]) -> int:
    """start(), wait for SIGTERM/SIGINT, stop(): the shape of every govwatch daemon."""
    start()
    wait_for_stop_signal()
    stop()
    return 0
