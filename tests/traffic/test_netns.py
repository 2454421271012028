"""End to end with real packets: the watcher captures on one end of a veth pair in its own network
namespace while nmap, hping3 and a browsing HTTP client work from another. Addresses exist only inside
the namespaces (10.213.0.0/16, no default route); every flood is bounded in count; namespaces are
always removed."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.netns]

SERVER, ATTACKER, BROWSER, SYNSCAN, SYNFLOOD, UDPFLOOD = (f"10.213.0.{n}" for n in (1, 2, 3, 4, 5, 6))
HELPER = os.path.join(os.path.dirname(__file__), "netns_watch.py")


def run(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    missing = [tool for tool in ("ip", "nmap", "hping3", "curl") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")
    tag = uuid.uuid4().hex[:6]
    srv, cli = f"gwt-s-{tag}", f"gwt-c-{tag}"
    veth_s, veth_c = f"gws{tag}", f"gwc{tag}"
    try:
        for cmd in (["ip", "netns", "add", srv], ["ip", "netns", "add", cli],
                    ["ip", "link", "add", veth_s, "type", "veth", "peer", "name", veth_c],
                    ["ip", "link", "set", veth_s, "netns", srv], ["ip", "link", "set", veth_c, "netns", cli],
                    ["ip", "-n", srv, "addr", "add", f"{SERVER}/16", "dev", veth_s],
                    *[["ip", "-n", cli, "addr", "add", f"{a}/16", "dev", veth_c]
                      for a in (ATTACKER, BROWSER, SYNSCAN, SYNFLOOD, UDPFLOOD)],
                    ["ip", "-n", srv, "link", "set", veth_s, "up"], ["ip", "-n", cli, "link", "set", veth_c, "up"],
                    ["ip", "-n", srv, "link", "set", "lo", "up"], ["ip", "-n", cli, "link", "set", "lo", "up"]):
            result = run(*cmd)
            assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}"
        yield srv, cli, veth_s, veth_c
    finally:
        run("ip", "netns", "del", srv)
        run("ip", "netns", "del", cli)


class Events:
    """Reads the watcher's JSON lines on a thread; tests wait on the queue with timeouts."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.queue.put(json.loads(line))

    def wait_for(self, predicate, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if predicate(event):
                return event
        while time.monotonic() < deadline:
            try:
                event = self.queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                return None
            self.seen.append(event)
            if predicate(event):
                return event
        return None


def started(kind: str, src: str):
    return lambda e: e.get("kind") == "traffic" and e["data"]["state"] == "start" and \
        e["data"]["kind"] == kind and e["data"]["src"] == src


def test_attacks_reported_and_browsing_silent(namespaces, tmp_path) -> None:
    srv, cli, veth_s, veth_c = namespaces
    web = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, "-m", "http.server", "80", "--bind", SERVER,
                            "-d", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, HELPER, veth_s, str(tmp_path), "55"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    events = Events(watch)
    try:
        ready = events.wait_for(lambda e: "ready" in e, 15)
        assert ready and ready["ready"], ready
        (tmp_path / "index.html").write_text("<html><body>ministry</body></html>")
        for _ in range(20):  # a person browsing: a page, its favicon, a pause
            for page in ("/", "/index.html"):
                result = run("ip", "netns", "exec", cli, "curl", "-s", "-o", "/dev/null", "--interface", BROWSER,
                             "--max-time", "3", f"http://{SERVER}{page}")
                assert result.returncode == 0
            time.sleep(0.15)
        assert events.wait_for(lambda e: e.get("kind") == "traffic", 2.5) is None, "browsing raised an alarm"

        run("ip", "netns", "exec", cli, "nmap", "-n", "-Pn", "-sT", "-p", "1-300", "-T4", "--max-retries", "1", SERVER)
        assert events.wait_for(started("port_scan", ATTACKER), 5), "connect scan not reported"
        run("ip", "netns", "exec", cli, "nmap", "-n", "-Pn", "-sS", "-p", "1-1000", "-T4", "--max-retries", "1",
            "-S", SYNSCAN, "-e", veth_c, SERVER)
        assert events.wait_for(started("port_scan", SYNSCAN), 5), "SYN scan not reported"
        run("ip", "netns", "exec", cli, "hping3", "-q", "-S", "-p", "80", "-c", "3000", "-i", "u100",
            "-a", SYNFLOOD, SERVER, timeout=20)
        assert events.wait_for(lambda e: started("syn_flood", SYNFLOOD)(e), 5), "SYN flood not reported"
        run("ip", "netns", "exec", cli, "hping3", "-q", "--udp", "-p", "9999", "-c", "5000", "-i", "u100",
            "-a", UDPFLOOD, SERVER, timeout=20)
        assert events.wait_for(started("udp_flood", UDPFLOOD), 5), "UDP flood not reported"
        noisy = [e for e in events.seen if e.get("kind") == "traffic" and BROWSER in json.dumps(e["data"])]
        assert noisy == [], "the browsing client was blamed"
    finally:
        watch.stdin.close()
        watch.wait(timeout=20)
        web.terminate()
        web.wait(timeout=5)
    final = events.wait_for(lambda e: "final_stats" in e, 5)
    assert final and final["final_stats"]["packets"] > 5000
    assert final["final_stats"]["reader"] == "ring"   # frames came through the TPACKET_V3 ring, not recv
