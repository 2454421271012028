"""Errors a person understands, secrets that can be pasted, and `check` and `run` reading the same files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dayone_lib import govwatch

from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector, rotate_enroll_key


def enroll(url: str, key: str, tmp_path, name: str = "web-01"):
    return govwatch("agent", "enroll", "--collector", url, "--enroll-key", key, "--name", name,
                    "--out", str(tmp_path / "cred.json"))


def test_mistyped_scheme(tmp_path):
    result = enroll("htps://127.0.0.1:8443", "gwe_x", tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("govwatch: --collector 'htps://127.0.0.1:8443' must start with http:// or https:// "
                             "(got htps scheme; did you mean https://?)\n")


def test_enrollment_name_taken(collector, tmp_path):
    key = Path(collector.cfg["enroll_key_file"]).read_text().strip()
    assert enroll(collector.url, key, tmp_path).returncode == 0
    result = enroll(collector.url, key, tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("govwatch: enrollment refused: the name 'web-01' is already enrolled; choose another "
                             "--name, or revoke the old agent on the collector first (govwatch collector agents "
                             "revoke web-01)\n")


def test_wrong_enrollment_key(collector, tmp_path):
    result = enroll(collector.url, "gwe_wrong", tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("govwatch: enrollment refused: wrong or rotated enrollment key; copy the current one "
                             "from the collector's enroll-key file\n")


def test_http_against_tls_port_at_enrollment(tls_collector, tmp_path):
    plain = tls_collector.url.replace("https://", "http://")
    where = plain.removeprefix("http://")
    result = enroll(plain, "gwe_x", tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"govwatch: {where} speaks TLS (https): use https://{where} instead of http://{where}\n"


def test_untrusted_certificate_at_enrollment_hints_ca_file(tls_collector, tmp_path):
    result = enroll(tls_collector.url, "gwe_x", tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"govwatch: TLS verification of {tls_collector.url} failed: the certificate is not "
                             "trusted (self-signed certificate in certificate chain) (pass --ca-file with the "
                             "collector's ca.pem)\n")


def test_secrets_never_start_with_a_dash(tmp_path, collector):
    init_collector(str(tmp_path / "fresh"))
    assert (tmp_path / "fresh" / "enroll-key").read_text().startswith("gwe_")
    assert (tmp_path / "fresh" / "admin-token").read_text().startswith("gwt_")
    keys = [rotate_enroll_key(str(tmp_path / "k")) for _ in range(200)]
    assert all(k.startswith("gwe_") for k in keys)
    key = Path(collector.cfg["enroll_key_file"]).read_text().strip()
    assert enroll(collector.url, key, tmp_path).returncode == 0
    import json

    assert json.loads((tmp_path / "cred.json").read_text())["token"].startswith("gwa_")


def test_old_unprefixed_enrollment_key_still_works(collector, tmp_path):
    Path(collector.cfg["enroll_key_file"]).write_text("-oldStyleKeyWithADash\n")
    result = govwatch("agent", "enroll", "--collector", collector.url, "--enroll-key=-oldStyleKeyWithADash",
                      "--name", "old-01", "--out", str(tmp_path / "cred.json"))
    assert result.returncode == 0, result.stderr


def test_readme_layout_symlinked_config_check_and_run_agree(tmp_path):
    init_collector(str(tmp_path / "var"))
    (tmp_path / "etc").mkdir()
    link = tmp_path / "etc" / "collector.yml"
    link.symlink_to(tmp_path / "var" / "collector.yml")
    cfg = load_config(str(link))  # what `collector run` loads
    assert cfg["admin_token_file"] == str(tmp_path / "var" / "admin-token")
    assert cfg["tls"]["cert"] == str(tmp_path / "var" / "server.pem")
    result = govwatch("collector", "check", "-c", str(link))
    assert result.returncode == 0, result.stderr
    assert f"relative paths resolved against {tmp_path}/var" in result.stdout


@pytest.mark.parametrize("missing, line", [
    ("admin-token", "admin_token_file: cannot read the admin token at {d}/admin-token: No such file or directory; "
                    "run `govwatch collector init` or fix the path"),
    ("server-key.pem", "tls.key: {d}/server-key.pem does not exist; give the file from `collector init`"),
])
def test_collector_check_opens_every_file(tmp_path, missing, line):
    init_collector(str(tmp_path / "c"))
    os.unlink(tmp_path / "c" / missing)
    config = tmp_path / "c" / "collector.yml"
    result = govwatch("collector", "check", "-c", str(config))
    assert result.returncode == 2
    assert result.stderr == f"govwatch: {config}: {line.format(d=tmp_path / 'c')}\n"


def test_collector_check_refuses_a_store_that_is_not_sqlite(tmp_path):
    init_collector(str(tmp_path / "c"))
    (tmp_path / "c" / "govwatch.db").write_bytes(b"this is not a database" * 100)
    config = tmp_path / "c" / "collector.yml"
    result = govwatch("collector", "check", "-c", str(config))
    assert result.returncode == 2
    assert result.stderr == (f"govwatch: {config}: data_dir: the store {tmp_path}/c/govwatch.db cannot be opened "
                             "(file is not a database); restore it from backup or move it aside\n")


def test_agent_modules_import_without_collector_packages():
    """A `pip install govwatch` agent has no WeasyPrint or cryptography: no agent module may need them."""
    import subprocess

    code = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('weasyprint', 'cryptography', 'pydyf', 'fontTools', 'cssselect2', 'PIL', 'websocket'):
            raise ImportError('collector-only package ' + name)
        if self.code and name.startswith('govwatch.collector'):
            raise ImportError('collector code ' + name)
block = Block()
block.code = True
sys.meta_path.insert(0, block)
import govwatch.agents
names = [m.name for m in pkgutil.walk_packages(govwatch.agents.__path__, 'govwatch.agents.')]
for name in names:
    importlib.import_module(name)
block.code = False  # the `govwatch` command itself lists the collector commands: they must load too
import govwatch.cli
govwatch.cli.build_parser()
print(len(names))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 30


def test_progress_lines_when_not_a_terminal(caplog):
    import io
    import logging

    from govwatch.progress import Progress

    done = [0]
    with caplog.at_level(logging.INFO, logger="govwatch.progress"):
        with Progress("fim: hashing", count=lambda: done[0], total=200, unit="files", stream=io.StringIO(),
                      log_every=0.01) as progress:
            done[0] = 50
            deadline = __import__("time").monotonic() + 30
            while not caplog.records and __import__("time").monotonic() < deadline:
                __import__("time").sleep(0.01)
    assert caplog.records and caplog.records[0].getMessage().startswith("fim: hashing 50/200 files (25%), ")
    assert progress.line().startswith("fim: hashing 50/200 files (25%)")


def test_a_dash_value_gets_a_hint_not_just_expected_one_argument(tmp_path):
    result = govwatch("agent", "enroll", "--collector", "http://127.0.0.1:9", "--enroll-key", "-abc", "--name", "a")
    assert result.returncode == 2
    assert ("argument --enroll-key: expected one argument; a value that begins with '-' must be written "
            "--option=VALUE") in result.stderr


def test_console_prints_the_agents_own_config_path_and_quarantine_for_new_files(tmp_path):
    import json

    from govwatch.collector.console.actions import agent_config_file
    from govwatch.collector.console.evidence import remedy
    from govwatch.collector.console.i18n import words
    from govwatch.collector.store import Store

    store = Store(str(tmp_path / "g.db"))
    try:
        store.add_agent("web-01", "MoC", "gwa_t")
        with store.transaction() as conn:
            conn.execute("UPDATE agents SET status=? WHERE name='web-01'",
                         (json.dumps({"config_file": "/srv/gw/agent.yml"}),))
        config = agent_config_file(store, "web-01")
        assert config == "/srv/gw/agent.yml" and agent_config_file(store, "nobody") is None
    finally:
        store.close()
    w = words("en")
    created = str(remedy({"path": "/var/www/x.php", "change": "created", "known_good": False}, w, config))
    assert "govwatch fim quarantine -c /srv/gw/agent.yml /var/www/x.php" in created and "restore" not in created
    changed = str(remedy({"path": "/var/www/i.html", "change": "modified", "known_good": True}, w, config))
    assert "govwatch fim restore -c /srv/gw/agent.yml /var/www/i.html" in changed
    fallback = str(remedy({"path": "/var/www/i.html", "change": "modified", "known_good": True}, w, None))
    assert "govwatch fim restore -c /etc/govwatch/agent.yml /var/www/i.html" in fallback
