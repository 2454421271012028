"""The running agent with automatic response on: a web shell in an upload folder is quarantined and a defaced
page restored, each with an event carrying its undo command (a real `govwatch agent run`, no collector)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def events(spool) -> list[dict]:
    if not spool.exists():
        return []
    db = sqlite3.connect(spool, timeout=30)
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM outbox") if b]
    except sqlite3.Error:
        return []
    finally:
        db.close()


def wait_for(condition, seconds: float = 90.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_agent_quarantines_upload_shell_and_restores_defaced_page(tmp_path):
    www = tmp_path / "www"
    (www / "uploads").mkdir(parents=True)
    page = www / "index.html"
    page.write_text("<h1>Ministry of Commerce</h1>\n")
    (tmp_path / "cred.json").write_text('{"agent": "web-01", "token": "gwa_t"}')
    (tmp_path / "cred.json").chmod(0o600)
    config = tmp_path / "agent.yml"
    config.write_text(f'name: web-01\ncollector: {{url: "http://127.0.0.1:9", credentials: cred.json}}\n'
                      f"spool: {tmp_path}/state/spool.db\nheartbeat: 1s\nfim:\n  paths: [{www}]\n  response:\n"
                      f"    - {{root: {www}, quarantine_uploads: [uploads], restore_defaced: true}}\n")
    agent = subprocess.Popen([sys.executable, "-m", "govwatch.cli", "agent", "run", "-c", str(config)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    spool = tmp_path / "state" / "spool.db"
    try:
        assert wait_for(lambda: any(e["kind"] == "heartbeat" and e["data"]["stats"]["fim"]["watched_files"] > 0
                                    for e in events(spool))), "the fim baseline never became ready"
        shell = www / "uploads" / "s.php"
        shell.write_text('<?php system($_GET["c"]); ?>\n')
        page.write_text("<h1>Hacked by Cyb3r Gh0st</h1>\n")

        def actions() -> dict[str, dict]:
            return {e["data"]["action"]: e["data"] for e in events(spool)
                    if e["kind"] == "agent" and e["data"].get("notice") == "response"}

        assert wait_for(lambda: {"quarantine", "restore"} <= set(actions())), actions()
        assert not shell.exists()
        assert page.read_text() == "<h1>Ministry of Commerce</h1>\n"
        assert actions()["quarantine"]["undo"] == f"govwatch fim quarantine -c {config} {shell} --undo"
        assert actions()["restore"]["undo"].startswith(f"govwatch fim restore -c {config} {page} --sha256 ")
    finally:
        agent.send_signal(signal.SIGTERM)
        _out, err = agent.communicate(timeout=60)
    assert "Traceback" not in err
