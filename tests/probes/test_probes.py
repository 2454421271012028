"""The outside probe against real loopback servers: phases, redirects, TLS facts, failures, scheduling."""

from __future__ import annotations

import queue
import time

from govwatch.collector.probes import MAX_BODY, Prober, probe_site


def site(url: str, **extra: object) -> dict:
    return {"name": "moc-home", "url": url, "interval": 60.0, "timeout": 3.0, **extra}


def test_healthy_page_is_up_with_every_phase_timed(http_server):
    result = probe_site(site(http_server.url()))
    assert result.up and result.status == 200 and result.error is None
    assert result.ip == "127.0.0.1"
    assert b"Ministry" in result.body
    assert set(result.phases) == {"resolve", "connect", "processing", "transfer"}
    assert result.duration >= sum(result.phases.values()) * 0.99
    assert result.https_redirect is False  # plain http site that stays on http


def test_server_error_is_down_with_a_short_reason(http_server):
    result = probe_site(site(http_server.url("/status/503")))
    assert not result.up and result.status == 503
    assert result.error == "unexpected HTTP status 503"


def test_expected_status_list_overrides_the_default_range(http_server):
    assert probe_site(site(http_server.url("/status/503"), expect_status=[503])).up
    assert not probe_site(site(http_server.url("/"), expect_status=[204])).up


def test_refused_connection_names_the_phase():
    result = probe_site(site("http://127.0.0.1:9/"))
    assert not result.up and result.status is None
    assert result.error.startswith("connect:") and "refused" in result.error.lower()


def test_silent_server_times_out_on_the_probe_deadline(stalling_server):
    started = time.monotonic()
    result = probe_site(site(stalling_server), timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert not result.up and result.error == "timeout during processing"


def test_redirect_loop_is_bounded(http_server):
    result = probe_site(site(http_server.url("/loop")), max_redirects=3)
    assert not result.up and result.error == "more than 3 redirects"


def test_body_is_bounded_for_the_defacement_detector(http_server):
    result = probe_site(site(http_server.url("/big")))
    assert result.up and len(result.body) == MAX_BODY


def test_untrusted_certificate_is_still_read_and_reported(tls_server_factory):
    server, _ = tls_server_factory("selfsigned", days=(-1, 30))
    result = probe_site(site(server.url()))
    assert not result.up and result.status == 200  # the page answers, but a browser would warn
    assert "certificate verify failed" in result.error
    assert result.cert and not result.cert.valid and "selfsigned.test" in result.cert.subject
    assert abs(result.cert.not_after - (time.time() + 30 * 86400)) < 120
    assert "tls" in result.phases


def test_verify_off_accepts_the_site_but_still_marks_the_certificate(tls_server_factory):
    server, _ = tls_server_factory("internal")
    result = probe_site(site(server.url(), verify_tls=False))
    assert result.up and result.error is None
    assert result.cert is not None and result.cert.valid is False


def test_trusted_certificate_is_valid(tls_server_factory, monkeypatch):
    server, cert = tls_server_factory("trusted")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    result = probe_site(site(server.url()))
    assert result.up, result.error
    assert result.cert.valid and result.cert.error is None


def test_expired_certificate_gives_its_past_expiry(tls_server_factory, monkeypatch):
    server, cert = tls_server_factory("expired", days=(-60, -2))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted issuer: only the dates are wrong
    result = probe_site(site(server.url()))
    assert not result.up and "expired" in result.error
    assert result.cert.not_after < time.time() - 86400


def test_http_to_https_redirect_is_noted(http_server, tls_server_factory):
    server, _ = tls_server_factory("target")

    def to_https(handler):
        handler.send_response(301)
        handler.send_header("Location", server.url("/"))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    http_server.httpd.routes["/"] = to_https
    result = probe_site(site(http_server.url("/"), verify_tls=False))
    assert result.up and result.redirects == 1
    assert result.https_redirect is True and result.final_url == server.url("/")
    assert result.cert is not None


class RecordingTracker:
    def __init__(self) -> None:
        self.results: queue.Queue = queue.Queue()

    def record(self, site: dict, result) -> None:
        self.results.put((site["name"], result))


def test_prober_probes_each_site_repeatedly_and_hands_results_on(http_server):
    tracker, seen = RecordingTracker(), queue.Queue()
    sites = [site(http_server.url(), name="a", interval=0.2), site(http_server.url("/status/500"), name="b",
                                                                    interval=0.2)]
    prober = Prober(sites, tracker, on_result=lambda s, r: seen.put(s["name"]))
    prober.start()
    try:
        names = [tracker.results.get(timeout=5)[0] for _ in range(6)]
        assert seen.get(timeout=5) in {"a", "b"}
    finally:
        prober.stop()
    assert {"a", "b"} <= set(names)


def test_stop_aborts_probes_in_flight_quickly(stalling_server):
    tracker = RecordingTracker()
    prober = Prober([site(stalling_server, timeout=30.0, interval=1.0)], tracker)
    prober.start()
    time.sleep(0.3)  # let the probe connect and hang (nothing to wait on: the server never answers)
    started = time.monotonic()
    prober.stop()
    assert time.monotonic() - started < 2.0
    assert tracker.results.empty()  # an aborted probe is not a failure of the site
