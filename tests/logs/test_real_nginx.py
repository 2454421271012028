"""The parser and detectors on what a real nginx writes: Debian's nginx on 127.0.0.1 is driven with
probe and login-guessing loops and a raw request with a quote and a non-UTF-8 byte (which nginx escapes)."""

from __future__ import annotations

import socket

import pytest
from nginx_server import get, wait_for

from govwatch.agents.logs import rules as log_rules
from govwatch.agents.logs.analyze import analyze
from govwatch.agents.logs.findings import Finding

PROBES = ["/.env", "/.git/config", "/wp-config.php.bak", "/phpmyadmin/", "/?id=1' union select 1,2--",
          "/adminer.php", "/backup.sql"]


def raw_request(url: str, request: bytes) -> None:
    host, port = url.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        sock.recv(4096)


def judge(path) -> tuple[list[Finding], object]:
    found: list[Finding] = []
    summary = analyze([str(path)], log_rules.load(None), found.append, "nginx")
    return found, summary


def test_probes_and_login_guessing_against_a_real_nginx(nginx) -> None:
    www, url, access_log = nginx
    (www / "wp-login.php").write_text("<form>login</form>")
    for target in PROBES:
        get(url + target, headers={"User-Agent": "Mozilla/5.0"})
    for _ in range(12):
        get(url + "/wp-login.php", "POST", data={"log": "admin", "pwd": "123456"})
    raw_request(url, b'GET /news/a"b\xff.html HTTP/1.1\r\nHost: x\r\nUser-Agent: odd "agent"\r\n'
                b"Connection: close\r\n\r\n")
    for i in range(20):
        get(f"{url}/?page={i}")                  # ordinary visits from the same address
    expected = len(PROBES) + 12 + 1 + 20 + 1     # +1: the fixture's readiness check
    assert wait_for(lambda: access_log.read_text().count("\n") >= expected, 20)
    findings, summary = judge(access_log)
    assert summary.unparsed == 0 and summary.lines == expected, access_log.read_text()[-600:]
    kinds = sorted(f.kind for f in findings)
    assert kinds == ["vuln_probe", "web_brute_force"], [f.record() for f in findings]
    probe = next(f for f in findings if f.kind == "vuln_probe")
    assert probe.src == "127.0.0.1" and {"secrets", "admin_panels", "sqli"} <= set(probe.evidence["categories"])
    brute = next(f for f in findings if f.kind == "web_brute_force")
    assert brute.evidence["attempts"] >= 10 and brute.evidence["path"] == "/wp-login.php"


def test_normal_browsing_of_a_real_nginx_raises_nothing(nginx) -> None:
    www, url, access_log = nginx
    for name in ("news.html", "style.css", "logo.png"):
        (www / name).write_text("x")
    for _ in range(30):
        for name in ("", "news.html", "style.css", "logo.png", "missing.html"):
            get(f"{url}/{name}")
    assert wait_for(lambda: access_log.read_text().count("\n") >= 151, 20)
    findings, summary = judge(access_log)
    assert findings == [] and summary.unparsed == 0


if __name__ == "__main__":
    pytest.main([__file__])
