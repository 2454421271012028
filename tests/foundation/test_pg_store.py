"""The PostgreSQL store: what a user sees when collectors share one database, when PostgreSQL restarts, and
when an SQLite store is migrated. Every test runs against a real PostgreSQL (tests/pgserver.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.pg import Row, translate
from govwatch.collector.service import Collector
from govwatch.collector.store import Store, StoreUnavailable
from govwatch.errors import GovwatchError

from .conftest import make_collector_config

STORE_FAMILIES = ("govwatch_events_ingested_total", "govwatch_fim_changes_total", "govwatch_incidents_total",
                  "govwatch_incidents_open", "govwatch_agents")


def govwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govwatch.cli", *args], capture_output=True, text=True, timeout=120)


def fim_event(i: int, path: str = "/var/www/index.html") -> dict:
    return {"id": f"event-{i:06d}", "kind": "fim", "severity": "high", "ts": time.time(), "summary": f"{path} modified",
            "data": {"path": path, "change": "modified"}}


def store_samples(url: str) -> dict[str, float]:
    """The store-derived samples of /metrics (name{labels} -> value)."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith(STORE_FAMILIES):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_process(config: Path, log: Path) -> subprocess.Popen:
    url = "http://" + yaml.safe_load(config.read_text())["listen"]
    proc = subprocess.Popen([sys.executable, "-m", "govwatch.cli", "collector", "run", "-c", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def healthy() -> bool:
        assert proc.poll() is None, log.read_text()[-500:]
        try:
            return requests.get(f"{url}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for(healthy, 60, f"collector {config}")
    return proc


def two_configs(tmp_path: Path, dsn: str) -> list[Path]:
    from pgserver import free_port

    base = make_collector_config(tmp_path, store=dsn)
    paths = []
    for side in "ab":
        cfg = yaml.safe_load(base.read_text())
        cfg["listen"] = f"127.0.0.1:{free_port()}"
        path = base.parent / f"collector-{side}.yml"
        path.write_text(yaml.safe_dump(cfg))
        paths.append(path)
    return paths


def enroll(url: str, cfg_path: Path, name: str = "web-01") -> str:
    key = Path(load_config(str(cfg_path))["enroll_key_file"]).read_text().strip()
    answer = requests.post(f"{url}/api/v1/enroll", json={"name": name, "enroll_key": key}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def post(url: str, token: str, events: list[dict]) -> requests.Response:
    return requests.post(f"{url}/api/v1/events", json={"events": events},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)


# ---- the connection surface ----------------------------------------------------------------------------------

def test_placeholders_and_percent_signs_are_translated_outside_literals():
    assert translate("SELECT * FROM t WHERE a=? AND b LIKE 'x%?' AND c='%'") == \
        "SELECT * FROM t WHERE a=%s AND b LIKE 'x%%?' AND c='%%'"
    assert "DOUBLE PRECISION" in translate("CREATE TABLE t (a REAL, id INTEGER PRIMARY KEY) WITHOUT ROWID")
    assert "WITHOUT ROWID" not in translate("CREATE TABLE t (a REAL) WITHOUT ROWID")


def test_rows_read_like_sqlite_rows_and_numbers_are_never_decimal(pg_dsn):
    store = Store(pg_dsn)
    store.add_agent("web-01", "MoC", "secret")
    row = store.agent_known("web-01")
    assert isinstance(row, Row) and row[0] == row["name"] == "web-01" and dict(row)["ministry"] == "MoC"
    store.ingest("web-01", [fim_event(1), fim_event(2)])
    sums = store.query("SELECT SUM(value) AS s, AVG(value) AS a, COUNT(*) AS n FROM counters")[0]
    assert all(type(v) in (int, float) for v in sums), sums
    store.close()


def test_a_nul_in_text_is_stored_not_a_failed_batch(store_target):
    store = Store(store_target)
    store.add_agent("web-01", "MoC", "secret")
    assert store.ingest("web-01", [fim_event(1, "/var/www/a\x00b.php")]) == (1, 0)
    with store.transaction() as conn:
        conn.execute("INSERT INTO site_state(site, up, since, last_probe) VALUES (?, 1, 0, 0)", ("bad\x00site",))
    assert store.query("SELECT site FROM site_state")[0][0] in ("bad\x00site", "bad\ufffdsite")
    store.close()


def test_a_store_newer_than_the_code_is_refused_with_one_line(store_target):
    Store(store_target).close()
    store = Store(store_target)
    with store.transaction() as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(GovwatchError) as refused:
        Store(store_target)
    assert "schema version 99" in str(refused.value) and "\n" not in str(refused.value)


def test_an_old_sqlite_store_is_migrated_and_its_sessions_and_outages_still_read(tmp_path):
    path = tmp_path / "govwatch.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE sessions (id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
                               created REAL NOT NULL, expires REAL NOT NULL);
        INSERT INTO sessions VALUES ('abc', 'alice', 'c', 1, 2);
        CREATE TABLE outages (id INTEGER PRIMARY KEY, site TEXT NOT NULL, start REAL NOT NULL, end REAL,
                              cause TEXT NOT NULL DEFAULT '');
        INSERT INTO outages(site, start, end) VALUES ('moc-home', 10, 20);""")
    old.close()
    store = Store(str(path))
    assert store.query("SELECT username FROM sessions")[0][0] == "alice"
    assert tuple(store.query("SELECT start, ended FROM outages")[0]) == (10, 20)
    assert store.query("SELECT value FROM meta WHERE key='schema_version'")[0][0] == "2"
    store.close()


# ---- several collectors, one truth ---------------------------------------------------------------------------

def test_two_collector_processes_store_a_retried_batch_once_and_export_the_same_metrics(tmp_path, pg_dsn):
    configs = two_configs(tmp_path, pg_dsn)
    procs = [start_process(c, tmp_path / f"{c.stem}.log") for c in configs]
    try:
        urls = ["http://" + yaml.safe_load(c.read_text())["listen"] for c in configs]
        token = enroll(urls[0], configs[0])
        batch = [fim_event(i, f"/var/www/p{i}.html") for i in range(50)]
        results = []
        threads = [threading.Thread(target=lambda u=u: results.append(post(u, token, batch).json()))
                   for u in urls + urls]  # the same batch, twice to each collector, at once
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.get("accepted", -1) for r in results) == [0, 0, 0, 50], results
        store = Store(pg_dsn)
        assert store.query("SELECT COUNT(*) FROM events")[0][0] == 50
        store.close()
        a, b = (store_samples(u) for u in urls)
        assert a == b and a['govwatch_events_ingested_total{kind="fim"}'] == 50
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def test_console_session_and_login_limit_hold_on_either_collector(pg_dsn):
    from govwatch.collector.console.auth import LoginThrottle, Sessions, Users

    first, second = Store(pg_dsn), Store(pg_dsn)  # what two collectors on one database each open
    try:
        Users(first).create("alice", "admin", "correct horse battery")
        sid = Sessions(first).create("alice")
        request = type("R", (), {"cookies": lambda self: {"gw_session": sid}})()
        assert Sessions(second).lookup(request)["user"] == "alice"
        for _ in range(10):
            LoginThrottle(first).failed("192.0.2.7")
        assert LoginThrottle(second).blocked("192.0.2.7")
        assert not LoginThrottle(second).blocked("192.0.2.8")
    finally:
        first.close()
        second.close()


# ---- resilience -------------------------------------------------------------------------------------------

def test_postgresql_restarted_under_load_loses_and_doubles_nothing(tmp_path, pg_server, pg_dsn):
    running = Collector(load_config(str(make_collector_config(tmp_path, store=pg_dsn))))
    running.start()
    try:
        key = Path(running.cfg["enroll_key_file"]).read_text().strip()
        token = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key},
                              timeout=30).json()["token"]
        refused, sent, stop = [], [0], threading.Event()

        def agent() -> None:  # like the agent's spool: a batch is resent until acknowledged
            for n in range(40):
                batch = [fim_event(n * 10 + i, f"/var/www/f{n * 10 + i}") for i in range(10)]
                while not stop.is_set():
                    try:
                        answer = post(running.url, token, batch)
                    except requests.RequestException:
                        continue
                    if answer.status_code == 200:
                        sent[0] += 10
                        break
                    refused.append(answer.status_code)
                    time.sleep(0.05)

        thread = threading.Thread(target=agent)
        thread.start()
        wait_for(lambda: sent[0] >= 50, 60, "first batches")
        pg_server.stop("immediate")
        wait_for(lambda: requests.get(f"{running.url}/readyz", timeout=30).status_code == 503, 60, "not ready")
        pg_server.pg_ctl_start()
        thread.join(240)
        stop.set()
        assert sent[0] == 400 and refused and set(refused) == {503}, (sent, set(refused))
        wait_for(lambda: requests.get(f"{running.url}/readyz", timeout=30).status_code == 200, 60, "ready again")
        assert running.store.query("SELECT COUNT(*) FROM events")[0][0] == 400
        assert store_samples(running.url)['govwatch_events_ingested_total{kind="fim"}'] == 400
    finally:
        running.stop()


def test_startup_with_postgresql_unreachable_exits_2_with_one_line(tmp_path):
    from pgserver import free_port

    config = make_collector_config(tmp_path, store=f"postgresql://govwatch@127.0.0.1:{free_port()}/govwatch")
    for command in ("run", "check"):
        done = govwatch("collector", command, "-c", str(config))
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "connection refused" in lines[0], done.stderr


def test_collector_check_names_the_postgresql_store_and_its_schema(tmp_path, pg_dsn):
    config = make_collector_config(tmp_path, store=pg_dsn)
    Store(pg_dsn).close()
    done = govwatch("collector", "check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert re.search(r"store postgresql postgresql://\S+ \(PostgreSQL 1\d[.\d]*, schema version 2\)", done.stdout)


def test_a_bad_store_value_is_refused_at_its_line(tmp_path):
    config = make_collector_config(tmp_path, store="mysql://db/govwatch")
    done = govwatch("collector", "check", "-c", str(config))
    assert done.returncode == 2 and "store" in done.stderr and "postgresql://" in done.stderr
    assert re.search(r"collector\.yml:\d+", done.stderr), done.stderr


# ---- migrate ------------------------------------------------------------------------------------------------

def populated_sqlite_collector(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    config = make_collector_config(tmp_path)
    running = Collector(load_config(str(config)))
    running.start()
    try:
        key = Path(running.cfg["enroll_key_file"]).read_text().strip()
        token = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key},
                              timeout=30).json()["token"]
        assert post(running.url, token, [fim_event(i, f"/var/www/m{i}") for i in range(30)]).ok
        from govwatch.collector.console.auth import Users

        Users(running.store).create("alice", "admin", "correct horse battery")
        samples = store_samples(running.url)
    finally:
        running.stop()
    return config, samples


def test_migrate_copies_a_populated_store_and_metrics_show_the_same_numbers(tmp_path, pg_dsn):
    config, before = populated_sqlite_collector(tmp_path)
    done = govwatch("collector", "migrate", "--to", pg_dsn, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "row counts verified" in done.stdout
    cfg = yaml.safe_load(config.read_text())
    cfg["store"] = pg_dsn
    config.write_text(yaml.safe_dump(cfg))
    running = Collector(load_config(str(config)))
    running.start()
    try:
        after = {k: v for k, v in store_samples(running.url).items() if "govwatch_agents" not in k}
        assert after == {k: v for k, v in before.items() if "govwatch_agents" not in k}
        assert after['govwatch_events_ingested_total{kind="fim"}'] == 30
        incidents = running.store.query("SELECT COUNT(*) FROM incidents")[0][0]
        new_id = running.store.transaction  # the identity sequence continues after the copied ids
        with new_id() as conn:
            conn.execute("INSERT INTO incidents(key, kind, severity, title, opened, updated) "
                         "VALUES ('k', 'fim', 'low', 't', 1, 1)")
        assert running.store.query("SELECT COUNT(*) FROM incidents")[0][0] == incidents + 1
        from govwatch.collector.console.auth import Users

        assert Users(running.store).verify("alice", "correct horse battery") is not None
    finally:
        running.stop()
    again = govwatch("collector", "migrate", "--to", pg_dsn, "-c", str(config))
    assert again.returncode == 2 and "already holds data" in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    forced = govwatch("collector", "migrate", "--to", pg_dsn, "-c", str(config), "--force")
    assert forced.returncode == 0, forced.stderr


def test_migrate_help_and_a_bad_target_are_one_line(tmp_path):
    assert "postgresql://" in govwatch("collector", "migrate", "--help").stdout
    config, _ = make_collector_config(tmp_path), None
    done = govwatch("collector", "migrate", "--to", "sqlite", "-c", str(config))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_store_unavailable_is_what_a_dead_server_raises(pg_server, pg_dsn):
    store = Store(pg_dsn)
    pg_server.stop("immediate")
    try:
        with pytest.raises(StoreUnavailable):
            store.ingest("web-01", [fim_event(1)])
        with pytest.raises(StoreUnavailable):
            store.query("SELECT 1")
        for _ in range(3):  # the I/O loop's lookup gives up at once (its pool never connects inline)
            with pytest.raises(StoreUnavailable):
                store.agent_for_token_fast("secret")
    finally:
        pg_server.pg_ctl_start()
    assert wait_for(lambda: _reads(store), 30, "reconnect")
    assert wait_for(lambda: _fast_reads(store), 30, "the I/O loop's pool reconnected by workers")
    store.close()


def _fast_reads(store: Store) -> bool:
    """A worker's lookup reconnects the I/O loop's pool; a connection left from before the restart fails its
    one lookup (that request falls back to a worker) and is replaced."""
    assert store.agent_for_token("secret") is None
    try:
        return store.agent_for_token_fast("secret") is None
    except StoreUnavailable:
        return False


def test_connections_left_from_before_a_restart_are_replaced_without_an_error(pg_server, pg_dsn):
    store = Store(pg_dsn)
    store.add_agent("web-01", "MoC", "secret")
    assert store.query("SELECT COUNT(*) FROM agents")[0][0] == 1  # a pooled reader is now open
    pg_server.restart()
    assert store.ingest("web-01", [fim_event(1)]) == (1, 0)  # the writer reconnects inside the call
    assert store.query("SELECT COUNT(*) FROM events")[0][0] == 1  # so does the reader
    store.close()


def _reads(store: Store) -> bool:
    try:
        return store.query("SELECT 1")[0][0] == 1
    except StoreUnavailable:
        return False


def test_labels_json_round_trips_in_counters(pg_dsn):
    store = Store(pg_dsn)
    store.count_rejected({"auth": 2})
    store.count_rejected({"auth": 3})
    assert store.counters("govwatch_ingest_rejected_total") == [({"reason": "auth"}, 5.0)]
    assert json.loads(store.query("SELECT labels FROM counters")[0][0]) == {"reason": "auth"}
    store.close()
