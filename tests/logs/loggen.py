"""Builders of access and auth log lines in the exact formats nginx, Apache and sshd write (no real data).

Addresses are from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)
and 10.x for the many-visitor scenarios.
"""

from __future__ import annotations

import random
import time

T0 = 1796100000.0   # 2026-12-01 05:20 UTC
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
MONITOR = "govwatch-probe/0.1"
ASSETS = ["/css/site.css", "/js/site.js", "/images/logo.png", "/images/banner.jpg", "/favicon.ico"]


def clf(ts: float, tz: str = "+0700") -> str:
    sign = 1 if tz[0] == "+" else -1
    offset = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
    return time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(ts + offset)) + " " + tz


def nginx(ts: float, src: str, method: str, target: str, status: int = 200, size: int = 5120,
          ua: str = BROWSER, referer: str = "-") -> str:
    """One line of nginx's default `combined` log_format."""
    return f'{src} - - [{clf(ts)}] "{method} {target} HTTP/1.1" {status} {size} "{referer}" "{ua}"'


def apache(ts: float, src: str, method: str, target: str, status: int = 200, size: int | None = 5120,
           ua: str = BROWSER, referer: str = "-") -> str:
    """One line of Apache's `combined` LogFormat (size `-` when nothing was sent)."""
    return f'{src} - - [{clf(ts)}] "{method} {target} HTTP/1.1" {status} {size if size else "-"} "{referer}" "{ua}"'


def sshd(ts: float, message: str, pid: int = 4242) -> str:
    """One traditional-syslog auth.log line from sshd (local time, no year, as rsyslog writes it)."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(ts))
    stamp = stamp[:4] + (" " + stamp[5] if stamp[4] == "0" else stamp[4:6]) + stamp[6:]
    return f"{stamp} web-01 sshd[{pid}]: {message}"


# --- attacks --------------------------------------------------------------------------------------
def wordpress_brute(src: str = "203.0.113.7", n: int = 40, start: float = T0, success: bool = False) -> list[str]:
    lines = [nginx(start, src, "GET", "/wp-login.php", 200)]
    for i in range(n):
        lines.append(nginx(start + 1 + i * 2, src, "POST", "/wp-login.php", 200, 4300, "Mozilla/5.0"))
    if success:
        lines.append(nginx(start + 2 + n * 2, src, "POST", "/wp-login.php", 302, 0, "Mozilla/5.0"))
    return lines


def probes(src: str = "198.51.100.23", start: float = T0) -> list[str]:
    targets = ["/.env", "/.git/config", "/wp-config.php.bak", "/phpmyadmin/",
               "/index.php?id=1%27%20union%20select%201,2--",
               "/../../../../etc/passwd", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/adminer.php",
               "/backup.sql", "/.aws/credentials"]
    return [nginx(start + i * 0.5, src, "GET", t, 404, 150) for i, t in enumerate(targets)]


def scanner(src: str = "198.51.100.24", start: float = T0) -> list[str]:
    return [nginx(start + i, src, "GET", f"/page-{i}", 404, 150, "sqlmap/1.7.2#stable (https://sqlmap.org)")
            for i in range(5)]


def path_flood(path: str = "/search?q=budget", sources: int = 20, seconds: int = 30, rps: int = 200,
               start: float = T0) -> list[str]:
    rng = random.Random(7)
    lines = []
    for s in range(seconds):
        for i in range(rps):
            src = f"10.9.{rng.randrange(sources) // 250}.{rng.randrange(sources) % 250 + 1}"
            lines.append(nginx(start + s + i / rps, src, "GET", path, 200, 900))
    return lines


def source_flood(src: str = "203.0.113.50", seconds: int = 20, rps: int = 80, start: float = T0) -> list[str]:
    return [nginx(start + s + i / rps, src, "GET", f"/news/{i % 40}.html", 200, 9000)
            for s in range(seconds) for i in range(rps)]


def ssh_guessing(src: str = "203.0.113.99", n: int = 20, start: float = T0,
                 success_user: str | None = None) -> list[str]:
    lines = []
    for i in range(n):
        lines.append(sshd(start + i * 2, f"Failed password for root from {src} port {40000 + i} ssh2", 5000 + i))
    if success_user:
        lines.append(sshd(start + n * 2 + 1, f"Accepted password for {success_user} from {src} port 41000 ssh2"))
    return lines


def ssh_sweep(src: str = "203.0.113.98", start: float = T0) -> list[str]:
    users = ["admin", "oracle", "test", "ubuntu", "postgres", "git", "ftpuser", "guest"]
    lines = []
    for i, user in enumerate(users):
        lines.append(sshd(start + i * 3, f"Invalid user {user} from {src} port {50000 + i}", 6000 + i))
        message = f"Failed password for invalid user {user} from {src} port {50000 + i} ssh2"
        lines.append(sshd(start + i * 3 + 1, message, 6000 + i))
    return lines


# --- normal traffic -------------------------------------------------------------------------------
def news_day(hours: float = 2.0, start: float = T0, peak_visitors_per_min: int = 300) -> list[str]:
    """Visitors ramping tenfold, then a story going viral: many sources, each reading a page and its assets."""
    rng = random.Random(11)
    lines: list[str] = []
    minutes = int(hours * 60)
    for minute in range(minutes):
        load = max(1, int(peak_visitors_per_min * (0.1 + 0.9 * minute / minutes)))
        for v in range(load):
            ts = start + minute * 60 + rng.random() * 60
            src = f"10.{rng.randrange(1, 200)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            page = "/news/2026/12/budget-approved.html" if minute > minutes // 2 and v % 2 else \
                f"/news/{rng.randrange(300)}.html"
            lines.append(nginx(ts, src, "GET", page, 200, 24000, referer="https://www.google.com/"))
            for j, asset in enumerate(ASSETS):
                lines.append(nginx(ts + 0.05 * (j + 1), src, "GET", asset, 200 if rng.random() < 0.3 else 304, 800,
                                   referer=f"https://www.moc.gov.kh{page}"))
    lines.sort(key=_line_ts)
    return lines


def crawlers(start: float = T0, pages: int = 2000) -> list[str]:
    rng = random.Random(3)
    lines = []
    for i in range(pages):
        lines.append(nginx(start + i * 1.5, "192.0.2.66", "GET", f"/news/{i}.html", 200, 20000, GOOGLEBOT))
        lines.append(nginx(start + i * 2.5, "192.0.2.77", "GET", f"/km/news/{rng.randrange(5000)}.html",
                           rng.choice([200, 200, 200, 404, 301]), 18000, BINGBOT))
        if i % 100 == 0:
            lines.append(nginx(start + i * 1.5, "192.0.2.66", "GET", "/robots.txt", 200, 120, GOOGLEBOT))
    lines.sort(key=_line_ts)
    return lines


def monitoring(start: float = T0, hours: float = 6) -> list[str]:
    return [nginx(start + i * 10, "192.0.2.10", "GET", "/healthz", 200, 2, MONITOR) for i in range(int(hours * 360))]


def admin_session(start: float = T0, src: str = "192.0.2.200") -> list[str]:
    """An administrator logs in once (one typo first), edits a post, uploads an image."""
    t = start
    out = [nginx(t, src, "GET", "/wp-login.php", 200, 4000),
           nginx(t + 8, src, "POST", "/wp-login.php", 200, 4300),
           nginx(t + 15, src, "POST", "/wp-login.php", 302, 0),
           nginx(t + 16, src, "GET", "/wp-admin/", 200, 60000)]
    for i in range(30):
        out.append(nginx(t + 20 + i * 4, src, "GET", f"/wp-admin/post.php?post={100 + i % 3}&action=edit", 200, 90000))
        out.append(nginx(t + 21 + i * 4, src, "POST", "/wp-admin/admin-ajax.php", 200, 40))
    out.append(nginx(t + 150, src, "POST", "/wp-admin/async-upload.php", 200, 900))
    out.append(nginx(t + 151, src, "GET", "/wp-content/uploads/2026/12/photo.jpg", 200, 300000))
    return out


def ssh_admin(start: float = T0, src: str = "192.0.2.201") -> list[str]:
    return [sshd(start, f"Failed password for alice from {src} port 52000 ssh2"),
            sshd(start + 5, f"Accepted password for alice from {src} port 52000 ssh2"),
            sshd(start + 3600, f"Accepted publickey for deploy from {src} port 52100 ssh2: ED25519 SHA256:abc"),
            sshd(start + 3601, "pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)"),
            sshd(start + 7200, f"Connection closed by {src} port 52200 [preauth]")]


def _line_ts(line: str) -> str:
    return line[line.index("[") + 1:line.index("]")]
