"""`govwatch traffic analyze` over every real attack capture of the corpus, a benign capture, and its
command-line contract (JSON lines, summary line, exit codes)."""

from __future__ import annotations

import csv
import json
import os
import random

import pytest
from traffic_frames import SERVER, tcp, udp, write_pcap

from govwatch.cli import main

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpus", "traffic")
if not os.path.isdir(CORPUS):
    CORPUS = "/work/shared/corpus/traffic"


def manifest() -> list[tuple[str, str]]:
    path = os.path.join(CORPUS, "MANIFEST.tsv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [(row["file"], row["expected_kind"]) for row in csv.DictReader(handle, delimiter="\t")]


def analyze(capsys, path: str, *extra: str) -> tuple[int, list[dict], dict]:
    code = main(["traffic", "analyze", path, *extra])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines[:-1], lines[-1]


@pytest.mark.skipif(not manifest(), reason="corpus not present (../shared/corpus/traffic)")
@pytest.mark.parametrize("name,expected", manifest())
def test_corpus_capture_reports_its_attack(capsys, name: str, expected: str) -> None:
    code, anomalies, summary = analyze(capsys, os.path.join(CORPUS, name))
    kinds = {a["kind"] for a in anomalies}
    if expected.startswith("("):  # single-port nmap -A: reported as fingerprinting, not as a sweep
        assert [a["evidence"]["scan_type"] for a in anomalies] == ["service/OS fingerprinting"]
    else:
        assert expected in kinds
    assert code == 1 and summary["anomalies"] == len(anomalies) and summary["packets"] > 0
    for anomaly in anomalies:
        assert set(anomaly) == {"kind", "start", "end", "src", "dst", "evidence"}
        assert anomaly["evidence"]["explanation"]


SCAN_TYPES = {"esnet__attacks_scanners_masscan_udp_0_1000_20190821.pcap": "UDP scan",
              "esnet__attacks_scanners_masscan_tcp_0_1000_20190821.pcap": "vertical sweep"}


@pytest.mark.skipif(not manifest(), reason="corpus not present (../shared/corpus/traffic)")
@pytest.mark.parametrize("name,scan_type", sorted(SCAN_TYPES.items()))
def test_corpus_scans_are_named_and_no_capture_is_also_a_tcp_flood(capsys, name: str, scan_type: str) -> None:
    """masscan's UDP sweep is a "UDP scan"; none of the corpus (the spoofed SYN flood included, whose
    packets are all out of any connection) is mistaken for a non-SYN TCP flood."""
    _code, anomalies, _summary = analyze(capsys, os.path.join(CORPUS, name))
    assert [a["evidence"]["scan_type"] for a in anomalies] == [scan_type]
    for other, _expected in manifest():
        _code, anomalies, _summary = analyze(capsys, os.path.join(CORPUS, other))
        assert "tcp_flood" not in {a["kind"] for a in anomalies}, other


def benign_capture(path) -> None:
    """Ten minutes of a small ministry site: visitors browsing, the server's DNS/NTP, an admin's SSH."""
    rng = random.Random(7)
    frames = []
    ts = 1_700_000_000.0
    for visit in range(300):
        client = f"192.0.2.{rng.randrange(1, 250)}"
        sport = 30000 + visit
        t = ts + visit * 2 + rng.random()
        frames += [(t, tcp(client, SERVER, sport, 443 if visit % 3 else 80, "S")),
                   (t + 0.01, tcp(SERVER, client, 443 if visit % 3 else 80, sport, "SA")),
                   (t + 0.02, tcp(client, SERVER, sport, 443 if visit % 3 else 80, "A"))]
        for k in range(rng.randrange(1, 12)):
            path_ = b"/favicon.ico" if k == 3 else b"/news/%d" % k
            frames += [(t + 0.03 + k * 0.05, tcp(client, SERVER, sport, 80, "PA",
                                                 b"GET " + path_ + b" HTTP/1.1\r\nHost: moc\r\n\r\n")),
                       (t + 0.04 + k * 0.05, tcp(SERVER, client, 80, sport, "PA",
                                                 b"HTTP/1.1 404 Not Found\r\n\r\n" if k == 3 else
                                                 b"HTTP/1.1 200 OK\r\n\r\n"))]
        frames.append((t + 1.0, tcp(client, SERVER, sport, 80, "FA")))
    for n in range(120):  # the server's own lookups, answered
        t = ts + n * 5
        frames += [(t, udp(SERVER, "198.51.100.53", 40000 + n, 53, b"q" * 30)),
                   (t + 0.01, udp("198.51.100.53", SERVER, 53, 40000 + n, b"a" * 120))]
    frames += [(ts + 100, tcp("198.51.100.9", SERVER, 51000, 22, "S")),
               (ts + 100.01, tcp(SERVER, "198.51.100.9", 22, 51000, "SA"))]
    write_pcap(path, sorted(frames, key=lambda f: f[0]))


def test_benign_site_traffic_raises_nothing(tmp_path, capsys) -> None:
    path = tmp_path / "benign.pcap"
    benign_capture(path)
    code, anomalies, summary = analyze(capsys, str(path))
    assert anomalies == [] and code == 0 and summary["anomalies"] == 0 and summary["packets"] > 2000


def test_home_option_and_summary_line(tmp_path, capsys) -> None:
    path = tmp_path / "flood.pcap"
    write_pcap(path, [(1000 + n / 5000, udp("192.0.2.9", SERVER, 1000, 7, b"x")) for n in range(5000)])
    code, anomalies, summary = analyze(capsys, str(path), "--home", "10.9.0.0/24")
    assert code == 1 and [a["kind"] for a in anomalies] == ["udp_flood"] and anomalies[0]["dst"] == SERVER
    assert set(summary) == {"packets", "seconds", "pps", "anomalies"}


@pytest.mark.parametrize("args,needle", [
    (["/nonexistent/x.pcap"], "cannot read"),
    (["--home", "not-an-ip", "{file}"], "not an address or CIDR"),
    (["{file}", "--rules", "/nonexistent/rules"], "rules folder for traffic not found"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, needle) -> None:
    path = tmp_path / "x.pcap"
    write_pcap(path, [(1.0, udp("10.0.0.1", SERVER, 1, 2))])
    code = main(["traffic", "analyze", *[a.replace("{file}", str(path)) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_test_rules_command(capsys) -> None:
    assert main(["traffic", "test-rules"]) == 0
    assert "0 failed" in capsys.readouterr().out
