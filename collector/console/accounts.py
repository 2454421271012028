"""Login, logout, the one-time first-administrator setup, and the admins' Users page.

Before a session exists, forms are protected by a double-submit token: a random `gw_pre` cookie
(SameSite=Strict, HttpOnly) that the form must echo, plus the same-origin check, so another site can
neither log a victim into its own account nor drive the setup form.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from govwatch.collector.console import auth
from govwatch.collector.console.render import Safe, html, join, when
from govwatch.collector.console.web import Console, Ctx
from govwatch.collector.httpd import Response
from govwatch.schema import check_name

log = logging.getLogger("govwatch.collector.console")


def _error(message: str) -> Safe:
    return html('<p class="flash error" role="alert">{0}</p>', message) if message else Safe("")


def _safe_next(target: str) -> str:
    """Only a path on this console (never `//host` or a URL): no open redirect."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _pre_token(console: Console, ctx: Ctx) -> str:
    token = ctx.request.cookies().get(auth.PRELOGIN_COOKIE, "")
    if not 20 <= len(token) <= 100:
        token = secrets.token_urlsafe(24)
        ctx.cookies.append(auth.cookie(auth.PRELOGIN_COOKIE, token, console.secure))
    return token


def _pre_ok(ctx: Ctx) -> bool:
    expected = ctx.request.cookies().get(auth.PRELOGIN_COOKIE, "")
    return bool(expected) and auth.same_origin(ctx.request) and auth.token_matches(ctx.form.get("csrf"), expected)


def _start_session(console: Console, ctx: Ctx, user: str, target: str) -> Response:
    session_id = console.sessions.create(user)
    ctx.cookies.append(auth.cookie(auth.SESSION_COOKIE, session_id, console.secure))
    return console.redirect(ctx, _safe_next(target))


def login_page(console: Console, ctx: Ctx, error: str = "", status: int = 200) -> Response:
    if error == "" and console.identify(ctx.request):
        return console.redirect(ctx, "/")
    setup_note = html('<p class="flash"><a href="/setup">{0}</a></p>', ctx.w["setup_link"]) \
        if console.users.count() == 0 else Safe("")
    body = console.fill(ctx, "login.html", error=_error(error), setup_note=setup_note, pre=_pre_token(console, ctx),
                        next=_safe_next(ctx.request.query.get("next") or ctx.form.get("next", "/")))
    return console.respond(ctx, body, status, ctx.w["login"])


def login_submit(console: Console, ctx: Ctx) -> Response:
    client = ctx.request.client
    if not _pre_ok(ctx):
        return login_page(console, ctx, ctx.w["err_csrf"], 403)
    if console.throttle.blocked(client):
        return login_page(console, ctx, ctx.w["err_throttled"], 429)
    user = console.users.verify(ctx.form.get("username", ""), ctx.form.get("password", ""))
    if user is None:
        console.throttle.failed(client)
        log.warning("console login failed for %r from %s", ctx.form.get("username", "")[:64], client)
        return login_page(console, ctx, ctx.w["err_login"], 401)
    log.info("console login: %s from %s", user["name"], client)
    return _start_session(console, ctx, user["name"], ctx.form.get("next", "/"))


def logout(console: Console, ctx: Ctx) -> Response:
    if ctx.sid:
        console.sessions.end(ctx.sid)
    ctx.cookies.append(auth.cookie(auth.SESSION_COOKIE, "", console.secure, max_age=0))
    return console.redirect(ctx, "/login")


def setup_page(console: Console, ctx: Ctx, error: str = "", status: int = 200) -> Response:
    if console.users.count() > 0:
        return console.redirect(ctx, "/login")
    body = console.fill(ctx, "setup.html", error=_error(error), pre=_pre_token(console, ctx),
                        username=ctx.form.get("username", "admin"))
    return console.respond(ctx, body, status, ctx.w["setup"])


def setup_submit(console: Console, ctx: Ctx) -> Response:
    if console.users.count() > 0:
        return login_page(console, ctx, ctx.w["err_setup_done"], 409)
    if not _pre_ok(ctx):
        return setup_page(console, ctx, ctx.w["err_csrf"], 403)
    if console.throttle.blocked(ctx.request.client):
        return setup_page(console, ctx, ctx.w["err_throttled"], 429)
    admin_token = getattr(console.app, "admin_token", "")
    if not admin_token or not hmac.compare_digest(ctx.form.get("token", "").strip().encode(), admin_token.encode()):
        console.throttle.failed(ctx.request.client)
        return setup_page(console, ctx, ctx.w["err_token"], 403)
    name, problem = _check_new_user(ctx, ctx.form.get("password2"))
    if problem:
        return setup_page(console, ctx, problem, 400)
    if not console.users.create(name, "admin", ctx.form["password"], only_if_none=True):
        return login_page(console, ctx, ctx.w["err_setup_done"], 409)
    log.warning("first console administrator %r created from %s", name, ctx.request.client)
    return _start_session(console, ctx, name, "/")


def _check_new_user(ctx: Ctx, again: str | None = None) -> tuple[str, str]:
    """(name, problem): the user name and password rules, as the person reads them."""
    name, password = ctx.form.get("username", "").strip(), ctx.form.get("password", "")
    if check_name(name):
        return name, ctx.w["err_name"]
    if len(password) < auth.MIN_PASSWORD:
        return name, ctx.w["err_password_short"]
    if again is not None and again != password:
        return name, ctx.w["err_password_match"]
    return name, ""


def users_page(console: Console, ctx: Ctx, error: str = "", status: int = 200) -> Response:
    rows = []
    for user in console.users.all():
        state = ctx.w["disabled"] if user["disabled"] else ctx.w["active"]
        action = "enable" if user["disabled"] else "disable"
        button = Safe("") if user["name"] == ctx.user else html(
            '<form method="post" action="/users/{0}/{1}"><input type="hidden" name="csrf" value="{2}">'
            '<button>{3}</button></form>', user["name"], action, ctx.csrf, ctx.w[action])
        rows.append(html("<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>", user["name"],
                         ctx.w.get("role_" + user["role"], user["role"]), when(user["created"], console.tz, ctx.w),
                         state, button))
    body = console.fill(ctx, "users.html", error=_error(error), rows=join(rows), csrf=ctx.csrf)
    return console.respond(ctx, body, status, ctx.w["users"])


def users_create(console: Console, ctx: Ctx) -> Response:
    name, problem = _check_new_user(ctx)
    role = ctx.form.get("role", "viewer")
    if problem or role not in auth.ROLES:
        return users_page(console, ctx, problem or ctx.w["role"], 400)
    if not console.users.create(name, role, ctx.form["password"]):
        return users_page(console, ctx, ctx.w["err_exists"], 409)
    log.info("console user %r (%s) created by %s", name, role, ctx.user)
    return console.redirect(ctx, "/users?msg=msg_user_created")


def users_toggle(console: Console, ctx: Ctx) -> Response:
    name, action = ctx.params["name"], ctx.params["action"]
    if name == ctx.user or not console.users.set_disabled(name, action == "disable"):
        return console.error_page(ctx, 404 if name != ctx.user else 403, ctx.w["not_found"])
    log.info("console user %r %sd by %s", name, action, ctx.user)
    return console.redirect(ctx, "/users?msg=msg_user_changed")


def install(console: Console, route: Any) -> None:
    """Register the account routes on the app (`route(method, pattern)(handler)`)."""
    def bind(fn: Any) -> Any:
        return lambda ctx: fn(console, ctx)

    route("GET", "/login")(console.page("none")(bind(login_page)))
    route("POST", "/login")(console.page("none")(bind(login_submit)))
    route("POST", "/logout")(console.page("viewer")(bind(logout)))
    route("GET", "/setup")(console.page("none")(bind(setup_page)))
    route("POST", "/setup")(console.page("none")(bind(setup_submit)))
    route("GET", "/users")(console.page("admin")(bind(users_page)))
    route("POST", "/users")(console.page("admin")(bind(users_create)))
    route("POST", "/users/(?P<name>[a-z0-9][a-z0-9_.-]{0,62})/(?P<action>disable|enable)")(
        console.page("admin")(bind(users_toggle)))
