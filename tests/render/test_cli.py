"""`govwatch deface render` as a sysadmin runs it: one JSON line, the screenshot file, exit 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import CHROMIUM, needs_chromium, png

GOVWATCH = [sys.executable, "-m", "govwatch.cli"]


def deface_render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GOVWATCH, "deface", "render", *args], capture_output=True, text=True, timeout=180)


def test_no_browser_is_one_line_and_exit_2(tmp_path):
    done = deface_render("http://127.0.0.1:9/", "--browser", str(tmp_path / "no-such-chromium"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no browser found" in done.stderr
    assert "Traceback" not in done.stderr


def test_baseline_needs_a_profile():
    done = deface_render("http://127.0.0.1:9/", "--baseline")
    assert done.returncode == 2 and "--baseline needs --profile" in done.stderr


@pytest.mark.slow
@needs_chromium
def test_render_baseline_then_image_defacement(sites, tmp_path):
    site, url, _ = sites
    site.reset()
    profile, shot = tmp_path / "moc.render.json", tmp_path / "shot.png"
    for _ in range(2):
        done = deface_render(url, "--profile", str(profile), "--baseline", "--browser", CHROMIUM)
        assert done.returncode == 0, done.stderr
    done = deface_render(url, "--profile", str(profile), "-o", str(shot))
    line = json.loads(done.stdout)
    assert done.returncode == 0 and line["defaced"] is False, line
    assert line["screenshot"] == str(shot) and shot.read_bytes().startswith(b"\x89PNG")
    assert line["known_good_renders"] == 2 and line["sandbox"] == "on"
    site.put("/hero.png", png((0, 0, 0), "HACKED"), "image/png")
    try:
        done = deface_render(url, "--profile", str(profile))
    finally:
        site.reset()
    line = json.loads(done.stdout)
    assert done.returncode == 1 and line["defaced"] is True, line
    assert line["visual_difference"] >= 0.5 and line["screenshot_sha256"]


@pytest.mark.slow
@needs_chromium
def test_refused_connection_is_exit_2_with_json_and_one_stderr_line():
    done = deface_render("http://127.0.0.1:9/")
    assert done.returncode == 2
    assert json.loads(done.stdout)["reason"] == "navigation"
    assert done.stderr.strip().count("\n") == 0 and "ERR_" in done.stderr


@pytest.mark.slow
@needs_chromium
def test_file_urls_are_refused():
    done = deface_render("file:///etc/passwd")
    assert done.returncode == 2 and json.loads(done.stdout)["reason"] == "refused"


@pytest.mark.parametrize("args, message", [
    (["--budget", "-3"], "must be seconds between 0.5 and 600"),
    (["--profile", "/nonexistent/p.json"], "cannot read"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    done = deface_render("http://127.0.0.1:9/", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_foreign_profile_is_refused(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"version": 7}')
    done = deface_render("http://127.0.0.1:9/", "--profile", str(bad))
    assert done.returncode == 2 and "not a govwatch page profile" in done.stderr
