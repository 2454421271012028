"""End to end with real processes: nginx serves a watched web root on loopback, a web shell is dropped in
it and requested; the collector shows one incident holding the FIM change and the requests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import requests
from nginx_server import get as _get

pytestmark = pytest.mark.slow

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
