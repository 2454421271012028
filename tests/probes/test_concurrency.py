"""Probe concurrency follows the work: slow sites get more threads, a hung site holds only its own, a site
handed over by lease is probed at once."""

from __future__ import annotations

import collections
import threading
import time

from govwatch.collector.probes import Prober


class Tally:
    """Tracker stand-in: counts probes per site."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def record(self, site: dict, result) -> None:
        with self.lock:
            self.counts[site["name"]] += 1

    def at_least(self, names, n: int) -> bool:
        with self.lock:
            return all(self.counts[name] >= n for name in names)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def slow(seconds: float):
    def route(handler) -> None:
        time.sleep(seconds)
        handler._send(200, b"<html><title>slow</title></html>")
    return route


def test_slow_sites_get_more_threads_than_the_old_fixed_four(http_server):
    http_server.httpd.routes["/slow"] = slow(0.5)
    sites = [{"name": f"s{i}", "url": http_server.url("/slow"), "interval": 1.0, "timeout": 10.0}
             for i in range(24)]
    tally = Tally()
    prober = Prober(sites, tally)
    prober.start()
    try:
        assert wait_for(lambda: tally.at_least([s["name"] for s in sites], 3), 60), tally.counts
    finally:
        prober.stop()
    assert prober.pool.peak > 4     # 24 sites x 0.5 s per 1 s interval need about 12 in flight


def test_concurrency_stays_within_its_limit(stalling_server):
    sites = [{"name": f"h{i}", "url": stalling_server, "interval": 1.0, "timeout": 30.0} for i in range(10)]
    prober = Prober(sites, Tally(), workers=3)
    prober.start()
    try:
        assert wait_for(lambda: prober.pool.workers == 3, 20)
        time.sleep(0.5)   # give it the chance to overshoot (nothing to wait on: the sites never answer)
        assert prober.pool.workers == 3 and prober.pool.peak == 3
    finally:
        prober.stop()


def test_a_hung_site_never_delays_the_others(http_server, stalling_server):
    healthy = [{"name": f"ok{i}", "url": http_server.url("/"), "interval": 0.3, "timeout": 5.0} for i in range(5)]
    hung = {"name": "hung", "url": stalling_server, "interval": 0.3, "timeout": 60.0}
    tally = Tally()
    prober = Prober([hung, *healthy], tally)
    prober.start()
    try:
        assert wait_for(lambda: tally.at_least([s["name"] for s in healthy], 8), 60), tally.counts
        assert tally.counts["hung"] == 0      # still hanging on its own thread, never probed twice at once
    finally:
        prober.stop()


def test_a_site_handed_over_by_lease_is_probed_at_once(http_server):
    sites = [{"name": name, "url": http_server.url("/"), "interval": 3600.0, "timeout": 5.0} for name in "ab"]
    tally = Tally()
    prober = Prober(sites, tally)
    prober.set_active(set())
    prober.start()
    try:
        assert not wait_for(lambda: tally.counts, 1.0)   # nothing held, nothing probed
        prober.set_active({"b"})
        assert wait_for(lambda: tally.counts["b"] == 1, 30)       # not an hour later
        assert tally.counts["a"] == 0
    finally:
        prober.stop()
