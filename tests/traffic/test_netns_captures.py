"""Captures made with real tools between two network namespaces, judged by `govwatch traffic analyze`
with the home address inferred: nmap -sA and -sn sweeps, hping3 ACK and spoofed RST floods, password
guessing from many sources against a real sshd, and an SSH banner poller that must raise nothing.

The server namespace owns 10.214.0.1/24 (the protected network) and 10.215.0.1/24 (the link); the
client namespace has 10.215.0.2-70/24 and reaches 10.214.0.0/24 through the server, so a sweep of the
protected network sends real IP packets (no ARP). dumpcap records on the server's veth. Floods are
bounded in count; namespaces and processes are always removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.netns]

SERVER, LINK_S = "10.214.0.1", "10.215.0.1"
ATTACKER = "10.215.0.2"
BOTS = [f"10.215.0.{n}" for n in range(10, 40)]
POLLER = "10.215.0.60"


def run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


class Pair:
    """The two namespaces and a way to run commands in each."""

    def __init__(self, tag: str) -> None:
        self.srv, self.cli = f"gwc-s-{tag}", f"gwc-c-{tag}"
        self.veth_s, self.veth_c = f"gcs{tag}", f"gcc{tag}"

    def s(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.srv, *cmd, timeout=timeout)

    def c(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.cli, *cmd, timeout=timeout)


@pytest.fixture
def pair() -> Iterator[Pair]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    missing = [t for t in ("ip", "nmap", "hping3", "dumpcap") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")
    p = Pair(uuid.uuid4().hex[:6])
    try:
        for cmd in (["ip", "netns", "add", p.srv], ["ip", "netns", "add", p.cli],
                    ["ip", "link", "add", p.veth_s, "type", "veth", "peer", "name", p.veth_c],
                    ["ip", "link", "set", p.veth_s, "netns", p.srv], ["ip", "link", "set", p.veth_c, "netns", p.cli],
                    ["ip", "-n", p.srv, "addr", "add", f"{SERVER}/24", "dev", p.veth_s],
                    ["ip", "-n", p.srv, "addr", "add", f"{LINK_S}/24", "dev", p.veth_s],
                    *[["ip", "-n", p.cli, "addr", "add", f"10.215.0.{n}/24", "dev", p.veth_c] for n in range(2, 71)],
                    ["ip", "-n", p.srv, "link", "set", p.veth_s, "up"],
                    ["ip", "-n", p.cli, "link", "set", p.veth_c, "up"],
                    ["ip", "-n", p.srv, "link", "set", "lo", "up"], ["ip", "-n", p.cli, "link", "set", "lo", "up"],
                    ["ip", "-n", p.cli, "route", "add", "10.214.0.0/24", "via", LINK_S]):
            result = run(*cmd)
            assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}"
        yield p
    finally:
        run("ip", "netns", "del", p.srv)
        run("ip", "netns", "del", p.cli)


class Recording:
    """dumpcap on the server's veth for the duration of a `with` block."""

    def __init__(self, pair: Pair, path: str, pcapng: bool) -> None:
        self.path = str(path)
        cmd = ["ip", "netns", "exec", pair.srv, "dumpcap", "-q", "-i", pair.veth_s, "-w", self.path]
        self.proc = subprocess.Popen(cmd + ([] if pcapng else ["-P"]), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

    def __enter__(self) -> Recording:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (os.path.exists(self.path) and os.path.getsize(self.path) >= 24):
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.5)   # dumpcap has the file open: give it a moment to start capturing
        return self

    def __exit__(self, *_exc: object) -> None:
        time.sleep(1.0)   # let the last replies land
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)


def analyze(path: str) -> list[dict]:
    result = run(sys.executable, "-m", "govwatch.cli", "traffic", "analyze", path, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return lines[:-1]


def kinds(found: list[dict]) -> list[tuple[str, str]]:
    return sorted({(a["kind"], a["src"]) for a in found})


def test_ack_scan_and_host_sweep_are_port_scans_with_their_scan_type(pair: Pair, tmp_path) -> None:
    pair.s(sys.executable, "-c", "")   # the namespaces work
    web = subprocess.Popen(["ip", "netns", "exec", pair.srv, sys.executable, "-m", "http.server", "80", "--bind",
                            SERVER, "-d", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Recording(pair, tmp_path / "ackscan.pcap", pcapng=False) as rec:
            pair.c("nmap", "-n", "-Pn", "-sA", "-p", "1-1000", "-T4", "--max-retries", "1", "-S", ATTACKER,
                   "-e", pair.veth_c, SERVER)
        found = analyze(rec.path)
        scans = [a for a in found if a["kind"] == "port_scan"]
        assert [(a["src"], a["evidence"]["scan_type"]) for a in scans] == [(ATTACKER, "ACK scan")], found
        assert not [a for a in found if a["kind"] == "tcp_flood"], found

        with Recording(pair, tmp_path / "sweep.pcapng", pcapng=True) as rec:
            pair.c("nmap", "-n", "-sn", "--disable-arp-ping", "-T4", "-S", ATTACKER, "-e", pair.veth_c,
                   "10.214.0.1-52")
        found = analyze(rec.path)
        scans = [a for a in found if a["kind"] == "port_scan"]
        assert [(a["src"], a["evidence"]["scan_type"]) for a in scans] == [(ATTACKER, "host sweep")], found
        assert scans[0]["evidence"]["distinct_hosts"] >= 25
    finally:
        web.terminate()
        web.wait(timeout=10)


def test_hping3_ack_and_spoofed_rst_floods_are_tcp_floods(pair: Pair, tmp_path) -> None:
    web = subprocess.Popen(["ip", "netns", "exec", pair.srv, sys.executable, "-m", "http.server", "80", "--bind",
                            SERVER, "-d", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Recording(pair, tmp_path / "floods.pcap", pcapng=False) as rec:
            for _ in range(8):   # a visitor first, so there is an ordinary rate to learn
                pair.c("curl", "-s", "-o", "/dev/null", "--interface", "10.215.0.66", "--max-time", "3",
                       f"http://{SERVER}/")
                time.sleep(0.5)
            pair.c("hping3", "-q", "--ack", "-p", "80", "-c", "12000", "-i", "u100", "-a", ATTACKER, SERVER,
                   timeout=60)
            time.sleep(12)   # longer than the rule's quiet time: two separate anomalies
            pair.c("hping3", "-q", "--rst", "-p", "80", "-c", "12000", "-i", "u100", "--rand-source", SERVER,
                   timeout=60)
        found = analyze(rec.path)
    finally:
        web.terminate()
        web.wait(timeout=10)
    floods = [a for a in found if a["kind"] == "tcp_flood"]
    assert len(floods) == 2, found
    ack, rst = sorted(floods, key=lambda a: a["start"])
    assert ack["src"] == ATTACKER and ack["evidence"]["flags"][0]["flags"] == "ACK"
    assert rst["src"] == "many" and rst["evidence"]["spoofed"] and rst["evidence"]["flags"][0]["flags"] == "RST"
    assert not [a for a in found if a["kind"] in ("port_scan", "syn_flood")], found


SSHD_CONFIG = """Port 22
ListenAddress {server}
HostKey {key}
PidFile {pid}
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
MaxStartups 200
MaxAuthTries 3
LoginGraceTime 20
"""

POLL = """import socket, sys, time
for n in range(int(sys.argv[2])):
    started = time.monotonic()
    with socket.create_connection((sys.argv[1], 22), timeout=5, source_address=(sys.argv[3], 0)) as s:
        s.sendall(b"SSH-2.0-check_ssh_2.4\\r\\n")
        s.recv(256)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""


def test_many_source_guessing_is_distributed_brute_force_and_a_poller_is_not(pair: Pair, tmp_path) -> None:
    if shutil.which("sshd") is None and not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("missing tools: sshd (openssh-server)")
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    key = tmp_path / "host_key"
    assert run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)).returncode == 0
    config = tmp_path / "sshd_config"
    config.write_text(SSHD_CONFIG.format(server=SERVER, key=key, pid=tmp_path / "sshd.pid"))
    os.chmod(tmp_path, 0o755)
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho wrong-password-$$\n")
    askpass.chmod(0o755)
    os.makedirs("/run/sshd", exist_ok=True)
    server = subprocess.Popen(["ip", "netns", "exec", pair.srv, sshd, "-D", "-e", "-f", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    ssh = ["ssh", "-n", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=3", "-o", "ConnectTimeout=5"]
    try:
        with Recording(pair, tmp_path / "guess.pcap", pcapng=False) as rec:
            poller = subprocess.Popen(["ip", "netns", "exec", pair.cli, sys.executable, "-c", POLL, SERVER, "25",
                                       POLLER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for attempt in range(2):   # every bot: two connections of three passwords, seconds apart
                guesses = [subprocess.Popen(["ip", "netns", "exec", pair.cli, *ssh, "-b", bot,
                                             f"admin{attempt}@{SERVER}", "true"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for bot in BOTS]
                for proc in guesses:
                    proc.wait(timeout=60)
            poller.wait(timeout=90)
        found = analyze(rec.path)
    finally:
        server.terminate()
        server.wait(timeout=10)
    guessing = [a for a in found if a["kind"] == "brute_force"]
    assert len(guessing) == 1, [a["evidence"] for a in guessing]
    assert guessing[0]["src"] == "many" and guessing[0]["evidence"]["distributed"] is True
    assert guessing[0]["evidence"]["sources"] >= 25 and guessing[0]["evidence"]["service"] == "ssh"
    assert POLLER not in json.dumps(found), "the banner poller was blamed"


def test_one_source_port_floods_are_tcp_floods(pair: Pair, tmp_path) -> None:
    """hping3 -s PORT --keep: every segment has the same connection key, which used to count once."""
    web = subprocess.Popen(["ip", "netns", "exec", pair.srv, sys.executable, "-m", "http.server", "80", "--bind",
                            SERVER, "-d", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Recording(pair, tmp_path / "keep.pcap", pcapng=False) as rec:
            for _ in range(8):   # a visitor first, so there is an ordinary rate to learn
                pair.c("curl", "-s", "-o", "/dev/null", "--interface", "10.215.0.66", "--max-time", "3",
                       f"http://{SERVER}/")
                time.sleep(0.5)
            pair.c("hping3", "-q", "--ack", "-p", "80", "-s", "40000", "--keep", "-c", "12000", "-i", "u100",
                   "-a", ATTACKER, SERVER, timeout=60)
            time.sleep(12)   # longer than the rule's quiet time: two separate anomalies
            pair.c("hping3", "-q", "--fin", "--push", "--ack", "-p", "80", "-s", "40001", "--keep", "-c", "12000",
                   "-i", "u100", "-a", ATTACKER, SERVER, timeout=60)
        found = analyze(rec.path)
    finally:
        web.terminate()
        web.wait(timeout=10)
    floods = sorted((a for a in found if a["kind"] == "tcp_flood"), key=lambda a: a["start"])
    assert [(a["src"], a["evidence"]["flags"][0]["flags"]) for a in floods] == [
        (ATTACKER, "ACK"), (ATTACKER, "FIN+PSH+ACK")], found
    assert floods[0]["evidence"]["top_ports"][0]["port"] == 80 and floods[0]["evidence"]["total_packets"] >= 5000
    assert not [a for a in found if a["kind"] in ("port_scan", "syn_flood")], found


def test_ack_ping_only_sweep_is_a_host_sweep(pair: Pair, tmp_path) -> None:
    """nmap -sn -PA: no ICMP, no SYN, only a lone ACK to port 80 of each address (a TCP ping)."""
    web = subprocess.Popen(["ip", "netns", "exec", pair.srv, sys.executable, "-m", "http.server", "80", "--bind",
                            SERVER, "-d", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Recording(pair, tmp_path / "ackping.pcap", pcapng=False) as rec:
            pair.c("nmap", "-n", "-sn", "-PA80", "--disable-arp-ping", "-T4", "-S", ATTACKER, "-e", pair.veth_c,
                   "10.214.0.1-52")
        found = analyze(rec.path)
    finally:
        web.terminate()
        web.wait(timeout=10)
    scans = [a for a in found if a["kind"] == "port_scan"]
    assert [(a["src"], a["evidence"]["scan_type"]) for a in scans] == [(ATTACKER, "host sweep")], found
    assert scans[0]["evidence"]["distinct_hosts"] >= 25 and scans[0]["evidence"]["ports_sample"] == [80]
    assert not [a for a in found if a["kind"] == "tcp_flood"], found
