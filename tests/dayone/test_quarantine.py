"""Quarantine and automatic response: a web shell leaves the web root reversibly; nothing outside is touched."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from dayone_lib import govwatch, write_agent

from govwatch.agents.fim.quarantine import entries
from govwatch.agents.fim.response import AutoResponder
from govwatch.errors import GovwatchError
from govwatch.events import Event


def spooled(tmp_path) -> list[dict]:
    db = sqlite3.connect(tmp_path / "state" / "spool.db")
    try:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM outbox ORDER BY seq")]
    finally:
        db.close()


def test_quarantine_and_undo_restore_the_file_exactly(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    shell = tmp_path / "www" / "x.php"
    shell.write_text('<?php system($_GET["c"]); ?>\n')
    shell.chmod(0o640)
    os.utime(shell, (1_700_000_000, 1_700_000_000))
    result = govwatch("fim", "quarantine", "-c", str(config), str(shell))
    assert result.returncode == 0, result.stderr
    assert not shell.exists()
    folder = tmp_path / "state" / "web-01-state" / "fim" / "quarantine"
    assert folder.stat().st_mode & 0o777 == 0o700
    [meta] = entries(str(folder))
    assert meta["path"] == str(shell) and meta["mode"] == "640"
    assert (folder / meta["id"] / "content").stat().st_mode & 0o777 == 0o600
    assert result.stdout.endswith(f"undo: govwatch fim quarantine -c {config} {shell} --undo\n")
    [event] = spooled(tmp_path)
    assert event["kind"] == "agent" and event["data"]["action"] == "quarantine"
    assert event["data"]["undo"] == f"govwatch fim quarantine -c {config} {shell} --undo"

    undone = govwatch("fim", "quarantine", "-c", str(config), str(shell), "--undo")
    assert undone.returncode == 0, undone.stderr
    assert shell.read_text() == '<?php system($_GET["c"]); ?>\n'
    assert shell.stat().st_mode & 0o777 == 0o640 and shell.stat().st_mtime == 1_700_000_000
    assert entries(str(folder)) == []
    assert [e["data"]["action"] for e in spooled(tmp_path)] == ["quarantine", "unquarantine"]


def test_quarantine_refuses_outside_the_watched_paths(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    outside = tmp_path / "www-other" / "x.php"
    outside.parent.mkdir()
    outside.write_text("x")
    result = govwatch("fim", "quarantine", "-c", str(config), str(outside))
    assert result.returncode == 2 and outside.exists()
    assert result.stderr == (f"govwatch: {outside} is not under any fim.paths of {config}; quarantine works only "
                             "there\n")


def test_quarantine_refuses_a_symlink(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    link = tmp_path / "www" / "link.php"
    link.symlink_to("/etc/hostname")
    result = govwatch("fim", "quarantine", "-c", str(config), str(link))
    assert result.returncode == 2 and link.is_symlink()
    assert result.stderr == f"govwatch: {link} is a symlink; remove the link itself with rm\n"


def test_undo_refuses_to_overwrite_a_new_file(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    shell = tmp_path / "www" / "x.php"
    shell.write_text("old")
    assert govwatch("fim", "quarantine", "-c", str(config), str(shell)).returncode == 0
    shell.write_text("new")
    result = govwatch("fim", "quarantine", "-c", str(config), str(shell), "--undo")
    assert result.returncode == 2 and shell.read_text() == "new"
    assert result.stderr == f"govwatch: {shell} exists again; move it away first, then undo\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def responder(tmp_path, clock, store=None, **rule):
    www = str(tmp_path / "www")
    agent_cfg = {"name": "web-01", "config_file": str(tmp_path / "agent.yml"), "data_dir": str(tmp_path / "state")}
    seen: list[Event] = []
    rules = [{"root": www, "quarantine_uploads": ["uploads"], "restore_defaced": False,
              "restore_min_severity": "high", "max_actions": 2, "window": 60.0, **rule}]
    return AutoResponder(rules, [www], agent_cfg, store, seen.append, clock), seen


def created(path) -> Event:
    return Event("fim", {"path": str(path), "change": "created"}, "critical")


def test_auto_response_quarantines_new_scripts_in_upload_folders_only(tmp_path):
    uploads = tmp_path / "www" / "uploads"
    uploads.mkdir(parents=True)
    shell, page, image = uploads / "s.php", tmp_path / "www" / "new.php", uploads / "cat.jpg"
    for path in (shell, page, image):
        path.write_text("x")
    respond, seen = responder(tmp_path, Clock())
    for path in (shell, page, image):
        respond(created(path))
    assert not shell.exists() and page.exists() and image.exists()
    actions = [e.data for e in seen if e.kind == "agent"]
    assert [(a["action"], a["path"], a["by"]) for a in actions] == [("quarantine", str(shell), "auto")]
    assert actions[0]["undo"] == f"govwatch fim quarantine -c {tmp_path}/agent.yml {shell} --undo"


def test_auto_response_never_acts_outside_its_web_root(tmp_path):
    (tmp_path / "www").mkdir()
    elsewhere = tmp_path / "www2" / "uploads" / "s.php"  # a sibling whose name starts like the root
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("x")
    respond, seen = responder(tmp_path, Clock())
    respond(created(elsewhere))
    assert elsewhere.exists() and [e.kind for e in seen] == ["fim"]


def test_auto_response_refuses_a_root_that_is_not_a_web_root(tmp_path):
    with pytest.raises(GovwatchError, match="fim.response: root /etc is not one of fim.web_roots"):
        AutoResponder([{"root": "/etc", "quarantine_uploads": [], "restore_defaced": True,
                        "restore_min_severity": "high", "max_actions": 1, "window": 1.0}],
                      [str(tmp_path)], {"name": "a", "config_file": "x", "data_dir": str(tmp_path)}, None, print)


def test_auto_response_stops_at_its_rate_limit_and_says_so_once(tmp_path):
    uploads = tmp_path / "www" / "uploads"
    uploads.mkdir(parents=True)
    shells = [uploads / f"s{i}.php" for i in range(5)]
    for path in shells:
        path.write_text("x")
    clock = Clock()
    respond, seen = responder(tmp_path, clock)
    for path in shells[:4]:
        respond(created(path))
    assert [p.exists() for p in shells[:4]] == [False, False, True, True]
    notices = [e.data["notice"] for e in seen if e.kind == "agent"]
    assert notices == ["response", "response", "response_paused"]
    clock.now += 61  # the window has passed: it acts again
    respond(created(shells[4]))
    assert not shells[4].exists()


def test_auto_response_restores_a_defaced_page_from_its_known_good_copy(tmp_path):
    from govwatch.agents.fim.evidence import KnownGoodStore
    from govwatch.agents.fim.scan import hash_file, lstat_state

    def state(path):
        return lstat_state(str(path))._replace(sha256=hash_file(str(path))[0])

    page = tmp_path / "www" / "index.html"
    page.parent.mkdir()
    page.write_text("<h1>Ministry</h1>")
    store = KnownGoodStore(str(tmp_path / "kg"))
    try:
        store.remember(str(page), state(page), trusted=True)
        page.write_text("<h1>Hacked by</h1>")
        store.remember(str(page), state(page), trusted=False)
        respond, seen = responder(tmp_path, Clock(), store, restore_defaced=True)
        respond(Event("fim", {"path": str(page), "change": "modified"}, "high"))
        assert page.read_text() == "<h1>Ministry</h1>"
        [action] = [e.data for e in seen if e.kind == "agent"]
        assert action["action"] == "restore" and action["by"] == "auto"
        assert action["undo"].startswith(f"govwatch fim restore -c {tmp_path}/agent.yml {page} --sha256 ")
        respond(Event("fim", {"path": str(page), "change": "modified"}, "high"))  # the restore's own event
        assert len([e for e in seen if e.kind == "agent"]) == 1
    finally:
        store.close()
