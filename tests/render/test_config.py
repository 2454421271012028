"""collector.yml `render:` and `collector check`: on with the browser found, off and why without one; the
collector runs with rendering off where no Chromium is installed. No browser needed for these."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.render.config import decide
from govwatch.errors import ConfigError

from .conftest import CHROMIUM


def _write(tmp_path: Path, render: object, site_render: object = None) -> Path:
    site = {"name": "moc", "url": "http://127.0.0.1:9/"}
    if site_render is not None:
        site["render"] = site_render
    path = tmp_path / "collector.yml"
    for name in ("admin-token", "enroll-key"):   # `collector check` opens every file it names
        (tmp_path / name).write_text("gwt_" + "x" * 40 + "\n")
        (tmp_path / name).chmod(0o600)
    path.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "data_dir": str(tmp_path / "data"), "sites": [site],
                                    **({"render": render} if render is not None else {})}))
    return path


@pytest.mark.parametrize("render, message", [
    ({"enabled": "sometimes"}, "must be auto, true or false"),
    ({"interval": "1s"}, "must be at least 10"),
    ({"concurrency": 0}, "must be at least 1"),
    ({"memory": "lots"}, "render.memory"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_render_section_is_refused_with_its_key(tmp_path, render, message):
    with pytest.raises(ConfigError) as caught:
        load_config(str(_write(tmp_path, render)))
    assert message in str(caught.value)


def test_defaults_and_per_site_switch(tmp_path):
    cfg = load_config(str(_write(tmp_path, None, site_render=False)))
    assert cfg["render"] == {"enabled": "auto", "interval": 600.0, "concurrency": 2, "browser": None, "budget": 20.0,
                             "memory": 2**30, "retention": 30 * 86400.0, "max_bytes": 512 * 2**20}
    assert cfg["sites"][0]["render"] is False


def test_no_browser_auto_is_off_and_says_why(tmp_path):
    cfg = load_config(str(_write(tmp_path, {"browser": str(tmp_path / "no-chromium")})))
    decision = decide(cfg)
    assert not decision.on and not decision.problem and "no browser found" in decision.line


def test_no_browser_but_enabled_true_is_a_problem(tmp_path):
    cfg = load_config(str(_write(tmp_path, {"enabled": True, "browser": str(tmp_path / "no-chromium")})))
    assert decide(cfg).problem


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govwatch.cli", "collector", "check", "-c", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_collector_check_says_rendering_is_off_without_a_browser(tmp_path):
    done = _check(_write(tmp_path, {"browser": str(tmp_path / "no-chromium")}))
    assert done.returncode == 0 and "rendering: off (no browser found" in done.stdout
    done = _check(_write(tmp_path, {"enabled": True, "browser": str(tmp_path / "no-chromium")}))
    assert done.returncode == 2 and "rendering: off" in done.stdout
    done = _check(_write(tmp_path, {"enabled": False}))
    assert done.returncode == 0 and "rendering: off (render.enabled is false)" in done.stdout


@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (apt-get install chromium)")
def test_collector_check_names_the_browser(tmp_path):
    done = _check(_write(tmp_path, {}))
    assert done.returncode == 0 and "rendering: on with " in done.stdout and "1 site(s)" in done.stdout


def test_collector_runs_with_rendering_off_without_a_browser(tmp_path):
    from govwatch.collector.init import init_collector
    from govwatch.collector.service import Collector

    data = tmp_path / "c"
    init_collector(str(data))
    cfg_path = data / "collector.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.pop("tls", None)
    cfg.update({"listen": "127.0.0.1:0", "sites": [], "render": {"browser": str(tmp_path / "no-chromium")}})
    cfg_path.write_text(yaml.safe_dump(cfg))
    collector = Collector(load_config(str(cfg_path)))
    collector.start()
    try:
        assert collector.render is None
    finally:
        collector.stop()
