"""Each detection found in logs built in the exact nginx/Apache/sshd formats, and normal traffic raising
nothing — through `govwatch logs analyze`, as an operator runs it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import loggen as g
import pytest

GOVWATCH = [sys.executable, "-m", "govwatch.cli"]


def analyze(tmp_path, lines: list[str], *args: str, name: str = "access.log") -> tuple[int, list[dict], dict, str]:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    else:
        path.write_text("\n".join(lines) + "\n")
    done = subprocess.run([*GOVWATCH, "logs", "analyze", str(path), *args], capture_output=True, text=True,
                          timeout=120)
    out = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, out[:-1], out[-1] if out else {}, done.stderr


ATTACKS = {
    "web_brute_force": lambda: g.wordpress_brute(),
    "vuln_probe": lambda: g.probes(),
    "path_flood": lambda: g.path_flood(),
    "source_flood": lambda: g.source_flood(),
    "ssh_brute_force": lambda: g.ssh_guessing(),
    "ssh_user_sweep": lambda: g.ssh_sweep(),
}


@pytest.mark.parametrize("kind", sorted(ATTACKS))
def test_each_attack_is_found_with_its_source(tmp_path, kind) -> None:
    code, findings, summary, err = analyze(tmp_path, ATTACKS[kind]())
    assert code == 1, err
    kinds = {f["kind"] for f in findings}
    assert kind in kinds, findings
    finding = next(f for f in findings if f["kind"] == kind)
    assert set(finding) == {"kind", "start", "end", "src", "evidence"}
    assert finding["end"] >= finding["start"] > 0
    assert len(finding["evidence"]["sample"]) <= 10
    assert summary["findings"] == len(findings) and summary["unparsed"] == 0


def test_probe_evidence_names_categories_and_scanner_agent(tmp_path) -> None:
    _code, findings, _s, _e = analyze(tmp_path, g.probes() + g.scanner())
    by_src = {f["src"]: f for f in findings if f["kind"] == "vuln_probe"}
    categories = set(by_src["198.51.100.23"]["evidence"]["categories"])
    assert {"secrets", "admin_panels", "sqli", "traversal", "xss"} <= categories
    assert by_src["198.51.100.24"]["evidence"]["scanner_requests"] >= 3


def test_success_after_guessing_is_critical_for_web_and_ssh(tmp_path) -> None:
    _c, web, _s, _e = analyze(tmp_path, g.wordpress_brute(success=True))
    _c, ssh, _s, _e = analyze(tmp_path, g.ssh_guessing(success_user="root"), name="auth.log")
    for findings, service in ((web, "web"), (ssh, "ssh")):
        hit = [f for f in findings if f["kind"] == "login_after_guessing"]
        assert len(hit) == 1 and hit[0]["evidence"]["service"] == service, findings
        assert hit[0]["evidence"]["recent_failures"] >= 3


def test_webshell_post_to_upload_folder(tmp_path) -> None:
    lines = [g.nginx(g.T0 + i, "203.0.113.66", "POST", "/wp-content/uploads/2026/12/cache.php", 200, 40)
             for i in range(3)]
    _c, findings, _s, _e = analyze(tmp_path, lines)
    assert [f["kind"] for f in findings] == ["webshell_use"]
    assert findings[0]["evidence"]["path"] == "/wp-content/uploads/2026/12/cache.php"
    assert findings[0]["evidence"]["requests"] == 3


def test_custom_login_path_from_the_command_line(tmp_path) -> None:
    lines = [g.nginx(g.T0 + i, "203.0.113.8", "POST", "/portal/signin", 200, 900) for i in range(15)]
    assert analyze(tmp_path, lines)[0] == 0
    code, findings, _s, _e = analyze(tmp_path, lines, "--login-path", "/portal/signin")
    assert code == 1 and findings[0]["kind"] == "web_brute_force"


def test_apache_format_and_gzip_rotated_file(tmp_path) -> None:
    lines = [g.apache(g.T0 + i, "203.0.113.7", "POST", "/administrator/index.php", 200, None) for i in range(12)]
    code, findings, summary, err = analyze(tmp_path, lines, "--format", "apache", name="access.log.2.gz")
    assert code == 1, err
    assert findings[0]["kind"] == "web_brute_force" and summary["lines"] == 12


def test_custom_format_string(tmp_path) -> None:
    fmt = '$remote_addr [$time_local] $host "$request" $status $body_bytes_sent "$http_user_agent" $request_time'
    lines = [f'203.0.113.5 [{g.clf(g.T0 + i)}] www.moc.gov.kh "GET /.env HTTP/1.1" 404 0 "curl/8.0" 0.001'
             .replace("/.env", t) for i, t in enumerate(["/.env", "/.git/HEAD", "/backup.sql", "/.htpasswd",
                                                         "/phpinfo.php", "/adminer.php"])]
    code, findings, summary, err = analyze(tmp_path, lines, "--format", fmt)
    assert code == 1 and summary["unparsed"] == 0, err
    assert findings[0]["kind"] == "vuln_probe" and findings[0]["evidence"]["probes"] == 6


NORMAL = {
    "busy news day (visitors x10, a story going viral)": lambda: g.news_day(),
    "search crawlers": lambda: g.crawlers(),
    "a monitoring check every 10 s": lambda: g.monitoring(),
    "an admin logging in once (one typo)": lambda: g.admin_session(),
}


@pytest.mark.parametrize("name", sorted(NORMAL))
def test_normal_web_traffic_raises_nothing(tmp_path, name) -> None:
    code, findings, summary, err = analyze(tmp_path, NORMAL[name]())
    assert (code, findings) == (0, []), err
    assert summary["lines"] > 0 and summary["unparsed"] == 0


def test_normal_ssh_use_raises_nothing(tmp_path) -> None:
    code, findings, summary, _err = analyze(tmp_path, g.ssh_admin(), name="auth.log")
    assert (code, findings) == (0, [])


def test_all_normal_traffic_together_raises_nothing(tmp_path) -> None:
    lines = g.news_day(hours=1) + g.crawlers(pages=1000) + g.monitoring(hours=1) + g.admin_session(g.T0 + 600)
    lines.sort(key=g._line_ts)
    assert analyze(tmp_path, lines)[:2] == (0, [])


def test_trusted_source_is_never_judged(tmp_path) -> None:
    assert analyze(tmp_path, g.probes(), "--trusted", "198.51.100.0/24")[:2] == (0, [])


@pytest.mark.parametrize("args,message", [
    (["--format", "no fields here"], "--format: format 'no fields here' has no fields"),
    (["--format", "$remote_addr $status"], "must carry the client address"),
    (["--trusted", "not-an-ip"], "--trusted: not an address or CIDR"),
    (["--login-path", "login"], "--login-path: must be a URL path"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message) -> None:
    code, _f, _s, err = analyze(tmp_path, g.probes(), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_missing_file_exits_2(tmp_path) -> None:
    done = subprocess.run([*GOVWATCH, "logs", "analyze", str(tmp_path / "nope.log")], capture_output=True, text=True)
    assert done.returncode == 2 and "nope.log: cannot read" in done.stderr and "Traceback" not in done.stderr
