"""The console's doors: who is asking (session cookie or admin token), may they, and did the request
come from our own pages. Every console route goes through `Console.page` or `Console.api`.

Pages answer a missing session with a redirect to /login; the JSON API answers 401. Any state change
made with a session cookie needs the session's CSRF token (form field `csrf` or header X-CSRF-Token)
and, when the browser names one, our own Origin/Referer. Bearer admin-token calls need neither: a
browser never attaches that header by itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

from govwatch.collector.console import auth
from govwatch.collector.console.i18n import pick_lang, words
from govwatch.collector.console.render import Safe, html, render, zone
from govwatch.collector.httpd import Request, Response, local_path

ROLE_RANK = {"viewer": 1, "admin": 2}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM = 64 * 1024


@dataclass
class Ctx:
    """One request as a page handler sees it."""

    request: Request
    lang: str
    w: dict[str, str]
    user: str = ""
    role: str = ""
    csrf: str = ""
    sid: str = ""
    form: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict[str, str]:
        return self.request.identity.get("params", {})

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def parse_form(request: Request) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in request.header("Content-Type") or len(request.body) > MAX_FORM:
        return {}
    pairs = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in pairs.items()}


class Console:
    """Shared state of the console and the guards around its handlers."""

    def __init__(self, app: Any, store: Any, cfg: dict[str, Any]) -> None:
        self.app, self.store, self.cfg = app, store, cfg
        self.users = auth.Users(store)
        self.sessions = auth.Sessions(store)
        self.throttle = auth.LoginThrottle(store)
        self.secure = bool(cfg.get("tls"))
        self.tz = zone((cfg.get("report") or {}).get("timezone", "Asia/Phnom_Penh"))

    # -- identity ----------------------------------------------------------------------------------
    def identify(self, request: Request) -> dict[str, Any] | None:
        header = request.header("Authorization")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        admin = getattr(self.app, "admin_token", "")
        if token and admin and hmac.compare_digest(token.encode(), admin.encode()):
            return {"user": "admin-token", "role": "admin", "via": "token"}
        session = self.sessions.lookup(request)
        return {**session, "via": "session"} if session else None

    def csrf_ok(self, request: Request, identity: dict[str, Any], form: dict[str, str]) -> bool:
        if request.method in auth.SAFE_METHODS or identity.get("via") == "token":
            return True
        sent = request.header(auth.CSRF_HEADER) or form.get("csrf")
        return auth.same_origin(request) and auth.token_matches(sent, identity["csrf"])

    def resolve_session(self, request: Request) -> dict[str, Any] | Response | None:
        """`app.session_resolver`: a console session for the core JSON API; refused (None) on an unsafe
        method without the CSRF header or from another origin, so no route can be driven cross-site."""
        session = self.sessions.lookup(request)
        if session is None:
            return None
        if not self.csrf_ok(request, {**session, "via": "session"}, {}):
            return Response.error(403, "missing or wrong CSRF token, or a request from another origin")
        return {"user": session["user"], "role": session["role"]}

    def context(self, request: Request, identity: dict[str, Any] | None) -> Ctx:
        lang = pick_lang(request.query, request.cookies())
        ctx = Ctx(request, lang, words(lang), form=parse_form(request) if request.method == "POST" else {})
        if identity:
            ctx.user, ctx.role = identity["user"], identity["role"]
            ctx.csrf, ctx.sid = identity.get("csrf", ""), identity.get("sid", "")
        if request.query.get("lang") == lang:
            ctx.cookies.append(auth.cookie("gw_lang", lang, self.secure, 365 * 86400))
        return ctx

    # -- guards ------------------------------------------------------------------------------------
    def page(self, level: str) -> Callable[[Callable[[Ctx], Response]], Callable[[Request], Response]]:
        """Wrap an HTML handler: 'none' (login pages), 'viewer' or 'admin'."""
        def wrap(handler: Callable[[Ctx], Response]) -> Callable[[Request], Response]:
            def guarded(request: Request) -> Response:
                identity = self.identify(request) if level != "none" else None
                ctx = self.context(request, identity)
                if level == "none":
                    return handler(ctx)
                if identity is None:
                    if request.method in auth.SAFE_METHODS:
                        return self.redirect(ctx, "/login?next=" + quote(request.path, safe="/"))
                    return self.error_page(ctx, 403, ctx.w["err_csrf"])
                if not self.csrf_ok(request, identity, ctx.form):
                    return self.error_page(ctx, 403, ctx.w["err_csrf"])
                if ROLE_RANK.get(ctx.role, 0) < ROLE_RANK[level]:
                    return self.error_page(ctx, 403, ctx.w["read_only"])
                return handler(ctx)
            return guarded
        return wrap

    def api(self, level: str) -> Callable[[Callable[[Ctx], Response]], Callable[[Request], Response]]:
        """Wrap a JSON handler: 401 without credentials, 403 for a low role or a failed CSRF check."""
        def wrap(handler: Callable[[Ctx], Response]) -> Callable[[Request], Response]:
            def guarded(request: Request) -> Response:
                identity = self.identify(request)
                if identity is None:
                    return Response.error(401, "authentication required (console session or admin token)",
                                          {"WWW-Authenticate": "Bearer"})
                if not self.csrf_ok(request, identity, {}):
                    return Response.error(403, f"missing or wrong {auth.CSRF_HEADER} header, or cross-origin request")
                if ROLE_RANK.get(identity["role"], 0) < ROLE_RANK[level]:
                    return Response.error(403, f"this needs the {level} role")
                return handler(self.context(request, identity))
            return guarded
        return wrap

    # -- responses ---------------------------------------------------------------------------------
    def respond(self, ctx: Ctx, body: str, status: int = 200, title: str = "", full: bool = True) -> Response:
        """An HTML page (or, with full=False, a fragment for live refresh) with the security headers."""
        if full:
            body = self.layout(ctx, title, Safe(body))
        return Response(status, body, "text/html; charset=utf-8", dict(SECURITY_HEADERS), ctx.cookies)

    def redirect(self, ctx: Ctx, location: str) -> Response:
        headers = {**SECURITY_HEADERS, "Location": local_path(location)}  # never off-site, never CR/LF
        return Response(303, "", "text/plain; charset=utf-8", headers, ctx.cookies)

    def error_page(self, ctx: Ctx, status: int, message: str) -> Response:
        title = ctx.w["forbidden"] if status == 403 else ctx.w["not_found"] if status == 404 else ctx.w["error"]
        body = html('<section class="card error"><h1>{0}</h1><p>{1}</p><p><a href="/">{2}</a></p></section>',
                    title, message, ctx.w["back"])
        return self.respond(ctx, body, status, title)

    def fill(self, ctx: Ctx, template: str, **values: Any) -> Safe:
        """A template with the request's words (`${t_KEY}`) and the given values, all escaped."""
        return render(template, {**{f"t_{k}": v for k, v in ctx.w.items()}, **values})

    def layout(self, ctx: Ctx, title: str, content: Safe) -> Safe:
        w = ctx.w
        nav = Safe("")
        who = Safe("")
        if ctx.user:
            links = [("/", w["incidents"]), ("/agents", w["agents"]), ("/sites", w["sites"])]
            if ctx.is_admin:
                links.append(("/users", w["users"]))
            nav = Safe("".join(html('<a href="{0}"{2}>{1}</a>', href, label,
                                    Safe(' aria-current="page"') if _current(ctx, href) else "")
                               for href, label in links))
            who = html('<span>{0} <b>{1}</b> ({2})</span><form method="post" action="/logout">'
                       '<input type="hidden" name="csrf" value="{3}"><button class="link">{4}</button></form>',
                       w["signed_in_as"], ctx.user, w.get("role_" + ctx.role, ctx.role), ctx.csrf, w["logout"])
        flash_key = ctx.request.query.get("msg", "")
        flash = html('<p class="flash" role="status">{0}</p>', w[flash_key]) if flash_key.startswith("msg_") \
            and flash_key in w else Safe("")
        return self.fill(ctx, "layout.html", lang=ctx.lang, title=title, nav=nav, who=who, content=content,
                         flash=flash, zone_note=w.fmt("times_in", tz=getattr(self.tz, "key", "UTC")))


def _current(ctx: Ctx, href: str) -> bool:
    path = ctx.request.path
    return path == href or (href == "/" and path.startswith("/incidents"))
