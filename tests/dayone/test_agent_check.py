"""`agent check` tells the truth: each thing that would not work is one line naming the key, exit 2."""

from __future__ import annotations

import os

import pytest
from dayone_lib import enroll_token, govwatch, write_agent


def lines(result) -> list[str]:
    return [line.split(": ", 2)[2] for line in result.stderr.splitlines()]


def test_good_config_passes_and_says_the_collector_accepted_it(collector, tmp_path):
    config = write_agent(tmp_path, collector.url, enroll_token(collector))
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert f"-> {collector.url} (answers and accepts the credentials)" in result.stdout


def test_missing_fim_path(collector, tmp_path):
    config = write_agent(tmp_path, collector.url, enroll_token(collector), fim=f"{tmp_path}/www, {tmp_path}/gone")
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert lines(result) == [f"fim.paths[1]: {tmp_path}/gone does not exist; create it or remove it from fim.paths"]


def test_unknown_interface(collector, tmp_path):
    config = write_agent(tmp_path, collector.url, enroll_token(collector), "traffic: {interface: eth9z}\n")
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    [line] = lines(result)
    assert line.startswith("traffic.interface: no interface named 'eth9z' on this host (it has: ")
    assert line.endswith("lo); name one of them or remove the traffic section") or "lo," in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop CAP_NET_RAW with setpriv")
def test_no_capture_capability_says_traffic_would_be_off(collector, tmp_path):
    import shutil
    import subprocess
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    config = write_agent(tmp_path, collector.url, enroll_token(collector), "traffic: {interface: lo}\n")
    result = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-net_raw,-net_admin", sys.executable,
                             "-m", "govwatch.cli", "agent", "check", "--offline", "-c", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout
    assert lines(result) == ["traffic.interface: this process cannot capture on lo (needs root or CAP_NET_RAW); "
                             "run the agent as root or with AmbientCapabilities=CAP_NET_RAW; traffic watching "
                             "would be off"]


def test_collector_nobody_answers_on(tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago and that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_agent(tmp_path, f"http://127.0.0.1:{port}", "gwa_x")
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert lines(result) == [f"collector.url: nothing answers at 127.0.0.1:{port} (connection refused): is the "
                             "collector running and the port right?"]


def test_offline_skips_the_network(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    result = govwatch("agent", "check", "--offline", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "not contacted (--offline)" in result.stdout


def test_revoked_or_foreign_credentials(collector, tmp_path):
    config = write_agent(tmp_path, collector.url, "gwa_not-a-token-of-this-collector")
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert lines(result) == ["collector.credentials: the collector refuses these credentials (revoked, or enrolled "
                             "with another collector); enroll again with `govwatch agent enroll`"]


def test_missing_credentials_file(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "x")
    (tmp_path / "cred.json").unlink()
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert lines(result) == [f"collector.credentials: cannot read agent credentials {tmp_path}/cred.json: No such "
                             "file or directory (run `govwatch agent enroll` first)"]


def test_http_against_the_tls_port(tls_collector, tmp_path):
    token = enroll_token(tls_collector)
    plain = tls_collector.url.replace("https://", "http://")
    config = write_agent(tmp_path, plain, token)
    result = govwatch("agent", "check", "-c", str(config))
    where = plain.removeprefix("http://")
    assert result.returncode == 2
    assert lines(result) == [f"collector.url: {where} speaks TLS (https): use https://{where} instead of "
                             f"http://{where}"]


def test_certificate_not_trusted_without_ca_file(tls_collector, tmp_path):
    config = write_agent(tmp_path, tls_collector.url, enroll_token(tls_collector))
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert lines(result) == [f"collector.url: TLS verification of {tls_collector.url} failed: the certificate is "
                             "not trusted (self-signed certificate in certificate chain) (set collector.ca_file to "
                             "the collector's ca.pem)"]


def test_tls_with_the_ca_file_passes(tls_collector, tmp_path):
    ca = os.path.join(tls_collector.cfg["data_dir"], "ca.pem")
    config = write_agent(tmp_path, tls_collector.url, enroll_token(tls_collector))
    config.write_text(config.read_text().replace("credentials: cred.json}", f"credentials: cred.json, ca_file: {ca}}}"))
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 0, result.stderr


def test_automatic_response_outside_a_web_root_is_refused(tmp_path):
    config = write_agent(tmp_path, "http://127.0.0.1:9", "gwa_x")
    text = config.read_text().replace(f"fim: {{paths: [{tmp_path}/www]}}\n", "")
    config.write_text(text + f"fim:\n  paths: [{tmp_path}/www]\n  response: [{{root: /etc, restore_defaced: true}}]\n")
    result = govwatch("agent", "check", "--offline", "-c", str(config))
    assert result.returncode == 2, result.stdout
    assert lines(result) == [f"fim.response[0].root: /etc is not one of fim.web_roots ({tmp_path}/www); automatic "
                             "response acts only in web roots"]
