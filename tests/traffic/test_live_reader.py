"""The live reader on a real packet socket: frames come through the TPACKET_V3 ring (and, where the
ring cannot be had, through recv) whole, in order, with wall-clock timestamps and no drops (on loopback
the socket sees each frame twice, going out and coming in). Runs inside a
network namespace the test creates (its own loopback), removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

pytestmark = [pytest.mark.netns]

READER = r"""
import json, socket, sys, time
from govwatch.agents.traffic import capture as cap
from govwatch.agents.traffic.packets import decode_raw
if sys.argv[1] == "recv":
    def refuse(*_a, **_k):
        raise OSError("no ring (test)")
    cap.Ring = refuse
live = cap.LiveCapture("lo", "udp and dst port 9", 256, 8 << 20)
live.open()
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(3000):
    out.sendto(n.to_bytes(4, "big") + b"x" * 60, ("127.0.0.1", 9))
seen, stamps = [], []
def handle(ts, link, frame):
    d = decode_raw(frame, link)
    if d is not None and d[4] == 9:
        seen.append(int.from_bytes(frame[d[7]:d[7] + 4], "big"))
        stamps.append(ts)
deadline = time.time() + 30
while len(seen) < 6000 and time.time() < deadline:   # loopback: each frame out and in
    live.read(handle, 0.2)
print(json.dumps({"reader": "ring" if live.ring else "recv", "seen": seen, "drops": live.drops(),
                  "skew": max(abs(t - time.time()) for t in stamps) if stamps else None}))
live.close()
"""


@pytest.fixture
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace")
    name = f"gwr-{uuid.uuid4().hex[:6]}"
    assert subprocess.run(["ip", "netns", "add", name], check=False).returncode == 0
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.parametrize("mode", ["ring", "recv"])
def test_every_frame_arrives_whole_and_in_order(netns: str, mode: str) -> None:
    result = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", READER, mode],
                            capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["reader"] == mode
    assert sorted(got["seen"]) == sorted(list(range(3000)) * 2) and got["drops"] == 0
    assert list(dict.fromkeys(got["seen"])) == list(range(3000))   # in the order sent
    assert got["skew"] is not None and got["skew"] < 60   # kernel timestamps are wall-clock seconds
