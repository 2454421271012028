"""Browser profile folders left by a collector that was SIGKILLed are removed at the next start, and only those."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from govwatch.collector.render import profiles

from .conftest import CHROMIUM, needs_chromium


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_folders_of_dead_collectors_are_removed(tmp_path):
    stale = tmp_path / f"{profiles.PREFIX}{dead_pid()}-abc"
    mine = tmp_path / f"{profiles.PREFIX}{os.getpid()}-def"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    living = tmp_path / f"{profiles.PREFIX}{sleeper.pid}-ghi"
    other = tmp_path / "unrelated-folder"
    for folder in (stale, mine, living, other):
        folder.mkdir()
        (folder / "Cookies").write_bytes(b"x" * 1000)
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    (tmp_path / f"{profiles.PREFIX}{dead_pid()}-link").symlink_to(target)
    try:
        assert profiles.sweep_stale(str(tmp_path)) == 1
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not stale.exists()
    assert mine.exists() and living.exists() and other.exists()
    assert (target / "keep.txt").read_text() == "keep"


def test_legacy_folders_without_a_process_id_go_once_old(tmp_path):
    old, fresh = tmp_path / f"{profiles.PREFIX}k2j3h4", tmp_path / f"{profiles.PREFIX}q9w8e7"
    old.mkdir()
    fresh.mkdir()
    past = time.time() - 2 * profiles.LEGACY_AGE
    os.utime(old, (past, past))
    assert profiles.sweep_stale(str(tmp_path)) == 1
    assert not old.exists() and fresh.exists()


def test_folders_of_other_users_are_left_alone(tmp_path):
    if os.getuid() != 0:
        return  # only root can make a folder owned by someone else here
    foreign = tmp_path / f"{profiles.PREFIX}{dead_pid()}-foreign"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    assert profiles.sweep_stale(str(tmp_path)) == 0
    assert foreign.exists()


STARTER = """
import sys, time
from govwatch.collector.render.browser import Browser
browser = Browser(sys.argv[1], tmp_root=sys.argv[2])
browser.start()
print(browser.profile_dir, flush=True)
time.sleep(120)
"""


@needs_chromium
def test_a_sigkilled_collectors_browser_profile_is_swept_at_the_next_start(request):
    from govwatch.collector.render.browser import Browser

    root = tempfile.mkdtemp(prefix="gw-profiles-")   # not under tmp_path: the render account must reach it
    os.chmod(root, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    child = subprocess.Popen([sys.executable, "-c", STARTER, CHROMIUM, str(root)], stdout=subprocess.PIPE,
                             text=True)
    left = child.stdout.readline().strip()
    assert left and os.path.isdir(left), "the browser did not start in the child"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert os.path.isdir(left), "SIGKILL leaves the profile behind (nothing ran)"
    browser = Browser(CHROMIUM, tmp_root=str(root))
    try:
        browser.start()
        assert not os.path.exists(left)
        assert os.path.isdir(browser.profile_dir)
    finally:
        browser.kill()
    assert os.listdir(root) == []
