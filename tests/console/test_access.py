"""The console's doors as an outsider, a viewer and another web site meet them."""

from __future__ import annotations

import requests

from .conftest import ADMIN_PASSWORD, csrf_in, setup_admin

KHMER = range(0x1780, 0x1800)


def has_khmer(text: str) -> bool:
    return any(ord(c) in KHMER for c in text)


def test_no_session_means_login_page_not_console(collector, incidents):
    answer = requests.get(f"{collector.url}/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    for path in ("/incidents", f"/incidents/{incidents['defacement']}", "/agents", "/sites", "/users"):
        page = requests.get(f"{collector.url}{path}", timeout=10)
        assert page.url.startswith(f"{collector.url}/login"), path
        assert 'type="password"' in page.text and "Hacked" not in page.text


def test_api_refuses_anonymous_and_forged_sessions(collector, incidents):
    incident = incidents["defacement"]
    for method, path in (("GET", "/api/v1/incidents"), ("GET", "/api/v1/agents"), ("GET", "/api/v1/sites"),
                         ("GET", f"/api/v1/incidents/{incident}"),
                         ("POST", f"/api/v1/incidents/{incident}/acknowledge"), ("POST", "/api/v1/sites/x/rebaseline")):
        anonymous = requests.request(method, f"{collector.url}{path}", timeout=10)
        forged = requests.request(method, f"{collector.url}{path}", cookies={"gw_session": "made-up"}, timeout=10)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert forged.status_code == 401, (method, path, forged.text)


def test_first_admin_needs_the_admin_token_and_setup_works_once(collector):
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/setup", timeout=10).text)
    wrong = browser.post(f"{collector.url}/setup", timeout=10, data={
        "csrf": pre, "token": "guessed", "username": "eve", "password": "x" * 12, "password2": "x" * 12})
    assert wrong.status_code == 403 and "not the admin token" in wrong.text
    setup_admin(collector)
    again = requests.Session()
    page = again.get(f"{collector.url}/setup", timeout=10)
    assert page.url.startswith(f"{collector.url}/login")
    late = again.post(f"{collector.url}/setup", timeout=10, data={
        "csrf": csrf_in(page.text), "token": collector.admin_token, "username": "eve", "password": "x" * 12,
        "password2": "x" * 12})
    assert late.status_code == 409
    assert [u["name"] for u in collector.store.query("SELECT name FROM users")] == ["ana"]


def test_wrong_password_is_refused_and_password_is_not_stored_in_clear(collector, admin):
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/login", timeout=10).text)
    answer = browser.post(f"{collector.url}/login", data={"csrf": pre, "username": "ana", "password": "nope"},
                          timeout=10)
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    stored = collector.store.query("SELECT password_hash FROM users WHERE name='ana'")[0]["password_hash"]
    assert stored.startswith("scrypt$") and ADMIN_PASSWORD not in stored


def test_session_cookie_is_locked_down_and_only_its_digest_is_stored(collector):
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/setup", timeout=10).text)
    answer = browser.post(f"{collector.url}/setup", allow_redirects=False, timeout=10, data={
        "csrf": pre, "token": collector.admin_token, "username": "ana", "password": ADMIN_PASSWORD,
        "password2": ADMIN_PASSWORD})
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("gw_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session_id = cookie.split(";")[0].split("=", 1)[1]
    stored = [r["id_sha256"] for r in collector.store.query("SELECT id_sha256 FROM sessions")]
    assert session_id not in stored and len(stored) == 1


def test_state_change_without_csrf_token_is_refused(collector, admin, incidents):
    incident = incidents["defacement"]
    form = admin.post(f"{collector.url}/incidents/{incident}/acknowledge", data={}, timeout=10)
    api = admin.post(f"{collector.url}/api/v1/incidents/{incident}/acknowledge", timeout=10)
    wrong = admin.post(f"{collector.url}/api/v1/incidents/{incident}/acknowledge",
                       headers={"X-CSRF-Token": "not-the-token"}, timeout=10)
    assert (form.status_code, api.status_code, wrong.status_code) == (403, 403, 403)
    assert collector.store.query("SELECT status FROM incidents WHERE id=?", (incident,))[0]["status"] == "open"


def test_cross_origin_post_is_refused_even_with_the_token(collector, admin, incidents):
    incident = incidents["defacement"]
    token = csrf_in(admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text)
    for header in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"}):
        answer = admin.post(f"{collector.url}/incidents/{incident}/acknowledge", data={"csrf": token}, headers=header,
                            timeout=10)
        assert answer.status_code == 403, header
    assert collector.store.query("SELECT status FROM incidents WHERE id=?", (incident,))[0]["status"] == "open"
    same = admin.post(f"{collector.url}/incidents/{incident}/acknowledge", data={"csrf": token},
                      headers={"Origin": collector.url}, timeout=10)
    assert same.status_code == 200 and "Incident acknowledged." in same.text


def test_core_api_state_change_with_session_needs_csrf_header(collector, admin):
    token = csrf_in(admin.get(f"{collector.url}/", timeout=10).text)
    bare = admin.delete(f"{collector.url}/api/v1/agents/nobody", timeout=10)
    with_token = admin.delete(f"{collector.url}/api/v1/agents/nobody", headers={"X-CSRF-Token": token}, timeout=10)
    assert bare.status_code == 403
    assert bare.json()["error"] == "missing or wrong CSRF token, or a request from another origin"
    assert with_token.status_code == 404  # authenticated and allowed; the agent just does not exist


def test_viewer_reads_but_cannot_acknowledge(collector, viewer, incidents):
    incident = incidents["defacement"]
    page = viewer.get(f"{collector.url}/incidents/{incident}", timeout=10)
    assert page.status_code == 200 and "Hacked by Team Shadow" in page.text
    assert "/acknowledge" not in page.text and "viewer role" in page.text
    token = csrf_in(page.text)  # the logout form's token: a valid token for this session
    form = viewer.post(f"{collector.url}/incidents/{incident}/acknowledge", data={"csrf": token}, timeout=10)
    api = viewer.post(f"{collector.url}/api/v1/incidents/{incident}/acknowledge", headers={"X-CSRF-Token": token},
                      timeout=10)
    assert form.status_code == 403 and api.status_code == 403
    assert viewer.get(f"{collector.url}/users", timeout=10).status_code == 403
    assert viewer.get(f"{collector.url}/api/v1/incidents", timeout=10).status_code == 200
    assert collector.store.query("SELECT status FROM incidents WHERE id=?", (incident,))[0]["status"] == "open"


def test_disabling_a_user_ends_their_sessions(collector, admin, viewer):
    page = admin.get(f"{collector.url}/users", timeout=10).text
    answer = admin.post(f"{collector.url}/users/vic/disable", data={"csrf": csrf_in(page)}, timeout=10)
    assert answer.status_code == 200 and "User updated." in answer.text
    assert viewer.get(f"{collector.url}/", timeout=10).url.startswith(f"{collector.url}/login")


def test_logout_ends_the_session(collector, admin):
    token = csrf_in(admin.get(f"{collector.url}/", timeout=10).text)
    stolen = dict(admin.cookies)
    assert admin.post(f"{collector.url}/logout", data={"csrf": token}, timeout=10).url.startswith(
        f"{collector.url}/login")
    replay = requests.get(f"{collector.url}/api/v1/incidents", cookies=stolen, timeout=10)
    assert replay.status_code == 401


def test_login_page_offers_khmer_and_remembers_the_choice(collector, admin):
    login_page = requests.get(f"{collector.url}/", timeout=10).text
    assert "ភាសាខ្មែរ" in login_page and 'type="password"' in login_page
    km = admin.get(f"{collector.url}/?lang=km", timeout=10)
    assert '<html lang="km">' in km.text and "ឧប្បត្តិហេតុ" in km.text
    later = admin.get(f"{collector.url}/agents", timeout=10)
    assert "ភ្នាក់ងារ" in later.text and has_khmer(later.text)
    back = admin.get(f"{collector.url}/agents?lang=en", timeout=10)
    assert "<h1>Agents</h1>" in back.text


def test_pages_carry_security_headers(collector, admin):
    for path in ("/", "/login"):
        headers = admin.get(f"{collector.url}{path}", timeout=10).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"]


def test_login_redirect_stays_on_the_console(collector, admin):
    browser = requests.Session()
    page = browser.get(f"{collector.url}/login?next=//evil.example/x", timeout=10).text
    answer = browser.post(f"{collector.url}/login", allow_redirects=False, timeout=10, data={
        "csrf": csrf_in(page), "username": "ana", "password": ADMIN_PASSWORD, "next": "//evil.example/x"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_repeated_failed_logins_are_throttled(collector, admin):
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/login", timeout=10).text)
    codes = [browser.post(f"{collector.url}/login", data={"csrf": pre, "username": "ana", "password": "guess"},
                          timeout=10).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_session_cookie_is_secure_when_the_collector_serves_tls(tmp_path):
    import yaml

    from govwatch.collector.config import load_config
    from govwatch.collector.init import init_collector
    from govwatch.collector.service import Collector

    init_collector(str(tmp_path / "c"))
    path = tmp_path / "c" / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({"listen": "127.0.0.1:0", "sites": []})
    path.write_text(yaml.safe_dump(cfg))
    running = Collector(load_config(str(path)))
    running.start()
    try:
        browser, ca = requests.Session(), str(tmp_path / "c" / "ca.pem")  # per request: env CA bundles win otherwise
        pre = csrf_in(browser.get(f"{running.url}/setup", verify=ca, timeout=10).text)
        answer = browser.post(f"{running.url}/setup", verify=ca, allow_redirects=False, timeout=10, data={
            "csrf": pre, "token": running.admin_token, "username": "ana", "password": ADMIN_PASSWORD,
            "password2": ADMIN_PASSWORD})
        assert running.url.startswith("https://") and answer.status_code == 303
        assert "; Secure" in answer.headers["Set-Cookie"]
    finally:
        running.stop()


def login_answer(collector, target: str) -> requests.Response:
    """Log in as ana from `/login?next=target`, the form carrying the same `next` (as the login page does)."""
    browser = requests.Session()
    page = browser.get(f"{collector.url}/login", params={"next": target}, timeout=10).text
    return browser.post(f"{collector.url}/login", params={"next": target}, allow_redirects=False, timeout=10,
                        data={"csrf": csrf_in(page), "username": "ana", "password": ADMIN_PASSWORD, "next": target})


def test_next_with_cr_lf_cannot_set_a_header(collector, admin):
    answer = login_answer(collector, "/\r\nSet-Cookie: injected=1")
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert "injected" not in answer.headers.get("Set-Cookie", "")


def test_khmer_next_is_followed_not_dropped(collector, admin):
    answer = login_answer(collector, "/incidents?q=\u1780\u1781")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/incidents?q=%E1%9E%80%E1%9E%81"


def test_a_long_static_file_name_is_not_found(collector):
    answer = requests.get(f"{collector.url}/static/{'a' * 5000}.css", timeout=10)
    assert answer.status_code == 404


def test_throttle_does_not_forget_after_many_other_addresses(store_target):
    """The limit lives in the store (shared by collectors): a flood of one-off failures from other addresses
    never unblocks the address guessing passwords, and failures expire after the window."""
    from govwatch.collector.console.auth import LoginThrottle
    from govwatch.collector.store import Store

    store, now = Store(store_target), [1000.0]
    throttle = LoginThrottle(store, limit=10, window=600.0, clock=lambda: now[0])
    for _ in range(12):
        throttle.failed("203.0.113.9")
    for n in range(500):
        throttle.failed(f"10.0.{n >> 8 & 255}.{n & 255}")
    assert throttle.blocked("203.0.113.9") and not throttle.blocked("10.0.0.1")
    assert store.query("SELECT COUNT(*) FROM login_failures WHERE client='203.0.113.9'")[0][0] == 10
    now[0] += 601
    assert not throttle.blocked("203.0.113.9")
    store.close()
