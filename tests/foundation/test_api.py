"""The ingest API as agents and attackers meet it: auth, identity, bad input, idempotency, limits."""

from __future__ import annotations

import gzip
import json
import time

import requests

from govwatch.events import Event


def events(n: int, kind: str = "fim", **data) -> list[dict]:
    payload = {"path": "/var/www/html/index.php", "change": "modified", **data}
    return [Event(kind, dict(payload), "high", f"change {i}").to_dict() for i in range(n)]


def post(collector, token: str | None, body, **headers) -> requests.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{collector.url}/api/v1/events", data=data, headers=headers, timeout=10)


def metric(collector, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{collector.url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_wrong_enroll_key_is_refused(collector):
    response = requests.post(f"{collector.url}/api/v1/enroll", json={"name": "evil", "enroll_key": "guess"}, timeout=5)
    assert response.status_code == 403
    assert response.json() == {"error": "wrong or revoked enrollment key"}


def test_rotated_enroll_key_is_refused(collector, tmp_path):
    from pathlib import Path

    from govwatch.collector.init import rotate_enroll_key

    old = Path(collector.cfg["enroll_key_file"]).read_text().strip()
    rotate_enroll_key(collector.cfg["enroll_key_file"])
    response = requests.post(f"{collector.url}/api/v1/enroll", json={"name": "web-02", "enroll_key": old}, timeout=5)
    assert response.status_code == 403


def test_missing_credentials_are_refused(collector):
    response = post(collector, None, [])
    assert response.status_code == 401
    assert response.json()["error"] == "agent credentials required (Authorization: Bearer <token>)"


def test_forged_token_is_refused(collector, enroll):
    enroll()
    response = post(collector, "forged-token-that-was-never-issued", events(1))
    assert response.status_code == 401
    assert response.json()["error"] == "unknown or revoked agent credentials"


def test_revoked_agent_is_refused(collector, enroll):
    token = enroll("web-01")
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    assert requests.delete(f"{collector.url}/api/v1/agents/web-01", headers=admin, timeout=5).status_code == 200
    assert post(collector, token, events(1)).status_code == 401


def test_agent_cannot_post_as_another(collector, enroll):
    token = enroll("web-01")
    enroll("web-02")
    batch = events(1)
    batch[0]["agent"] = "web-02"
    response = post(collector, token, batch)
    assert response.status_code == 403
    assert response.json()["error"] == "events[0].agent: web-01 may not post events as web-02"
    assert metric(collector, "govwatch_fim_changes_total", agent="web-02") == 0


def test_agent_token_cannot_read_admin_api(collector, enroll):
    token = enroll()
    response = requests.get(f"{collector.url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"},
                            timeout=5)
    assert response.status_code == 401


def test_malformed_json_gets_400_with_reason(collector, enroll):
    response = post(collector, enroll(), b'{"not": [a list')
    assert response.status_code == 400
    assert response.json()["error"].startswith("body is not valid JSON: Expecting value: line 1 column 10")


def test_deeply_nested_json_gets_400(collector, enroll):
    response = post(collector, enroll(), b"[" * 100000 + b"]" * 100000)
    assert response.status_code == 400
    assert response.json()["error"] == "body is not valid JSON: nested too deeply"


def test_invalid_event_names_the_field(collector, enroll):
    batch = events(2)
    batch[1]["kind"] = "rumour"
    response = post(collector, enroll(), batch)
    assert response.status_code == 400
    assert response.json()["error"].startswith("events[1].kind: unknown kind 'rumour'")


def test_oversized_body_gets_413_and_collector_lives(collector, enroll):
    token = enroll()
    limit = collector.cfg["limits"]["max_body"]
    response = post(collector, token, b"a" * (limit + 1))
    assert response.status_code == 413
    assert response.json()["error"] == f"body of {limit + 1} bytes is over the limit of {limit}"
    assert requests.get(f"{collector.url}/healthz", timeout=5).status_code == 200


def test_gzip_bomb_is_refused(collector, enroll):
    bomb = gzip.compress(b"[" + b" " * (collector.cfg["limits"]["max_body"] + 10) + b"]")
    response = post(collector, enroll(), bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413


def test_retried_batch_is_counted_once(collector, enroll):
    token = enroll()
    batch = events(5)
    body = gzip.compress(json.dumps({"events": batch}).encode())
    first = post(collector, token, body, **{"Content-Encoding": "gzip"})
    again = post(collector, token, body, **{"Content-Encoding": "gzip"})
    assert first.json() == {"accepted": 5, "duplicates": 0}
    assert again.json() == {"accepted": 0, "duplicates": 5}
    assert metric(collector, "govwatch_fim_changes_total", agent="web-01", change="modified", severity="high") == 5
    assert metric(collector, "govwatch_events_ingested_total", kind="fim") == 5


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    from govwatch.collector.config import load_config
    from govwatch.collector.service import Collector

    from .conftest import make_collector_config

    path = make_collector_config(tmp_path, limits={"agent_events_per_second": 1.0, "agent_burst": 10})
    running = Collector(load_config(str(path)))
    running.start()
    try:
        key = open(running.cfg["enroll_key_file"]).read().strip()
        answer = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key})
        token = answer.json()["token"]
        assert post(running, token, events(10)).status_code == 200
        limited = post(running, token, events(5))
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"].startswith("rate limit: retry in")
    finally:
        running.stop()


def test_rejections_are_counted_in_metrics(collector, enroll):
    post(collector, None, [])
    post(collector, enroll(), b"{")
    collector.app.rejections.flush()
    assert metric(collector, "govwatch_ingest_rejected_total", reason="auth") == 1
    assert metric(collector, "govwatch_ingest_rejected_total", reason="malformed") == 1


def test_counters_survive_restart(tmp_path):
    from govwatch.collector.config import load_config
    from govwatch.collector.service import Collector

    from .conftest import make_collector_config

    path = make_collector_config(tmp_path)
    first = Collector(load_config(str(path)))
    first.start()
    key = open(first.cfg["enroll_key_file"]).read().strip()
    token = requests.post(f"{first.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key}).json()["token"]
    post(first, token, events(3))
    first.stop()
    second = Collector(load_config(str(path)))
    second.start()
    try:
        assert metric(second, "govwatch_fim_changes_total", agent="web-01") == 3
        assert post(second, token, events(1)).json()["accepted"] == 1
        assert metric(second, "govwatch_fim_changes_total", agent="web-01") == 4
    finally:
        second.stop()


def test_health_and_readiness(collector):
    assert requests.get(f"{collector.url}/healthz", timeout=5).text == "ok\n"
    assert requests.get(f"{collector.url}/readyz", timeout=5).text == "ready\n"


def test_unknown_path_and_method(collector):
    assert requests.get(f"{collector.url}/nope", timeout=5).status_code == 404
    response = requests.get(f"{collector.url}/api/v1/events", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_last_seen_moves_with_each_batch(collector, enroll):
    token = enroll()
    post(collector, token, [])
    first = metric(collector, "govwatch_agent_last_seen_timestamp_seconds", agent="web-01")
    time.sleep(0.05)
    post(collector, token, [])
    assert metric(collector, "govwatch_agent_last_seen_timestamp_seconds", agent="web-01") > first > 0
