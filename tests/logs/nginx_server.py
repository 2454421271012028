"""nginx from Debian on a free loopback port, serving a temp web root and logging in `combined` format."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, method: str = "GET", **kwargs) -> int:
    try:
        return requests.request(method, url, timeout=5, **kwargs).status_code
    except requests.RequestException:
        return 0


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def nginx(tmp_path):
    """nginx on a free loopback port serving tmp/www, logging in the default combined format."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light; scripts/system-deps.sh does it)")
    www, port = tmp_path / "www", free_port()
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
    up = wait_for(lambda: get(url + "/") == 200, 20)
    if not up:
        proc.kill()
        pytest.fail(f"nginx did not start: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    yield www, url, tmp_path / "access.log"
    proc.terminate()
    proc.wait(10)

