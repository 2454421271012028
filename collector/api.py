"""The collector's HTTP API: routes, authentication, rate limits and input checks.

Every route declares who may call it: `public` (health, metrics, enrollment with its key), `agent`
(Bearer token of an enrolled agent), `viewer` or `admin` (the admin token, or a console session).
Bad input always gets a 4xx with a reason; the handler never sees an unauthenticated request.
"""

from __future__ import annotations

import gzip
import hmac
import json
import logging
import platform
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from govwatch import __version__
from govwatch.collector import badrows, clock, openapi
from govwatch.collector.httpd import Request, Response
from govwatch.collector.store import Store, StoreUnavailable
from govwatch.events import EventError, check_event
from govwatch.secretfile import AGENT_PREFIX, new_secret

log = logging.getLogger("govwatch.collector.api")
ROLES = {"public": 0, "agent": 1, "viewer": 2, "admin": 3}
ENROLL_MAX_BODY = 4096          # {name, enroll_key, ministry, hostname, version} fits many times over
OTHER_MAX_BODY = 64 * 1024      # console forms and admin calls; only event batches may be large
DECODE_SLOTS = 2                # event batches decoded and validated at the same time (see App.__init__)
Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str


class TokenBucket:
    """Per-agent event budget: `rate` events/s, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float) -> float:
        """Spend `cost`; return 0 if allowed, else seconds to wait before retrying."""
        with self._lock:
            now = self.clock()
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if cost > tokens:
                self._state[key] = (tokens, now)
                return (cost - tokens) / self.rate
            self._state[key] = (tokens - cost, now)
            return 0.0


class RejectionCounter:
    """Counts refused requests in memory and writes them to the store at most once a second."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last = 0.0

    def add(self, reason: str) -> None:
        self.count(reason)
        self.flush(force=False)

    def count(self, reason: str) -> None:
        """Count without ever touching the store (the HTTP loop calls this; housekeeping flushes)."""
        with self._lock:
            self._pending[reason] = self._pending.get(reason, 0) + 1

    def flush(self, force: bool = True) -> None:
        with self._lock:
            if not self._pending or (not force and time.monotonic() - self._last < 1.0):
                return
            pending, self._pending, self._last = self._pending, {}, time.monotonic()
        self.store.count_rejected(pending)


class App:
    """Route table plus the shared checks; callable as the HTTP server's app."""

    def __init__(self, store: Store, cfg: dict[str, Any], admin_token: str, enroll_key: Callable[[], str],
                 metrics_body: Callable[[], bytes]) -> None:
        self.store, self.cfg = store, cfg
        self.admin_token, self.enroll_key, self.metrics_body = admin_token, enroll_key, metrics_body
        limits = cfg["limits"]
        self.max_body, self.max_batch = limits["max_body"], limits["max_batch"]
        self.bucket = TokenBucket(limits["agent_events_per_second"], limits["agent_burst"])
        self.rejections = RejectionCounter(store)
        self.routes: list[Route] = []
        self.session_resolver: Callable[[Request], dict[str, Any] | Response | None] | None = None
        self.hooks: dict[str, Callable[..., Any]] = {}
        # Batches decoded and validated at once: pure Python on one GIL, so more threads add no speed, only
        # starve the thread committing the batches already decoded (README "Ingest speed").
        self._decoding = threading.BoundedSemaphore(DECODE_SLOTS)
        self._install_core_routes()

    def admit(self, method: str, path: str, headers: Any) -> tuple[int, Response | None]:
        """Decided from the request head, before any body is read: the body limit for this endpoint and,
        for a liveness probe or an agent with wrong credentials, the answer itself."""
        if path == "/healthz" and method in ("GET", "HEAD"):
            return 0, Response(200, "ok\n")
        if path == "/api/v1/enroll":
            return ENROLL_MAX_BODY, None
        if path == "/api/v1/events" and method == "POST":
            auth = headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            try:
                refusal = self._agent_refusal(token, self.store.agent_for_token_fast)
            except (sqlite3.Error, StoreUnavailable):  # the store is busy: the worker checks the token
                return self.max_body, None
            return (0, refusal) if refusal is not None else (self.max_body, None)
        return OTHER_MAX_BODY, None

    def route(self, method: str, pattern: str, auth: str) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler, auth))
            return handler

        return wrap

    def __call__(self, request: Request) -> Response:
        allowed = []
        for route in self.routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            allowed.append(route.method)
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                continue
            try:
                denied = self._authenticate(request, route.auth)
                if denied is not None:
                    return denied
                request.identity["params"] = match.groupdict()
                return route.handler(request)
            except StoreUnavailable as exc:  # PostgreSQL down or the disk full: retry later, never a 500
                return Response.error(503, f"{exc}; retry later", {"Retry-After": "10"})
        if allowed:
            return Response.error(405, f"method {request.method} not allowed here", {"Allow": ", ".join(allowed)})
        return Response.error(404, f"no such endpoint: {request.path}")

    # -- authentication ----------------------------------------------------------------------------
    def _authenticate(self, request: Request, level: str) -> Response | None:
        if level == "public":
            return None
        auth = request.header("Authorization")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if level == "agent":
            return self._authenticate_agent(request, token)
        if token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            request.identity.update(user="admin-token", role="admin")
        elif self.session_resolver is not None and (session := self.session_resolver(request)):
            if isinstance(session, Response):  # a session that may not do this (CSRF or origin check failed)
                return session
            request.identity.update(session)
        elif token:
            self.rejections.add("auth")
            return Response.error(401, "invalid token", {"WWW-Authenticate": "Bearer"})
        else:
            return Response.error(401, "authentication required", {"WWW-Authenticate": "Bearer"})
        if ROLES.get(request.identity.get("role", ""), 0) < ROLES[level]:
            return Response.error(403, f"this needs the {level} role")
        return None

    def _agent_refusal(self, token: str, lookup: Callable[[str], Any] | None = None) -> Response | None:
        """The 401 for a missing or unknown agent token (counted), None for a valid one."""
        if not token:
            self.rejections.count("auth")
            return Response.error(401, "agent credentials required (Authorization: Bearer <token>)",
                                  {"WWW-Authenticate": "Bearer"})
        if len(token) > 200 or (lookup or self.store.agent_for_token)(token) is None:
            self.rejections.count("auth")
            return Response.error(401, "unknown or revoked agent credentials", {"WWW-Authenticate": "Bearer"})
        return None

    def _authenticate_agent(self, request: Request, token: str) -> Response | None:
        agent = self.store.agent_for_token(token) if token and len(token) <= 200 else None  # one look-up
        refusal = self._agent_refusal(token, lambda _token: agent)
        if refusal is not None:
            return refusal
        request.identity.update(agent=agent["name"], role="agent")
        return None

    # -- core routes -------------------------------------------------------------------------------
    def _install_core_routes(self) -> None:
        self.route("GET", "/healthz", "public")(lambda r: Response(200, "ok\n"))
        self.route("GET", "/readyz", "public")(self._readyz)
        self.route("GET", "/metrics", "public")(
            lambda r: Response(200, self.metrics_body(), "text/plain; version=0.0.4; charset=utf-8"))
        self.route("GET", "/api/v1/openapi.json", "public")(lambda r: Response.json(openapi.document()))
        self.route("POST", "/api/v1/enroll", "public")(self._enroll)
        self.route("POST", "/api/v1/events", "agent")(self._events)
        self.route("GET", "/api/v1/agent/whoami", "agent")(self._whoami)
        self.route("GET", "/api/v1/agents", "viewer")(self._agents)
        self.route("DELETE", "/api/v1/agents/(?P<name>[^/]+)", "admin")(self._revoke)
        self.route("GET", "/api/v1/sites", "viewer")(self._sites)
        self.route("POST", "/api/v1/sites/(?P<name>[^/]+)/rebaseline", "admin")(self._rebaseline)
        self.route("GET", "/api/v1/incidents", "viewer")(self._incidents)

    def _whoami(self, request: Request) -> Response:
        """`agent check`: are these credentials accepted, and which collector (of several) answered?"""
        return Response.json({"agent": request.identity["agent"],
                              "collector": {"host": platform.node(), "listen": self.cfg.get("listen", ""),
                                            "version": __version__}})

    def _readyz(self, request: Request) -> Response:
        try:
            self.store.check_writable()
        except Exception as exc:  # any store failure means not ready; say why
            return Response(503, f"store not writable: {exc}\n")
        return Response(200, "ready\n")

    def _enroll(self, request: Request) -> Response:
        body, problem = _json_body(request, ENROLL_MAX_BODY)
        if problem:
            self.rejections.add("malformed")
            return problem
        if not isinstance(body, dict):
            return Response.error(400, "body must be a JSON object {name, enroll_key}")
        name, key = body.get("name"), body.get("enroll_key")
        if not isinstance(key, str) or not hmac.compare_digest(key.encode(), self.enroll_key().encode()):
            self.rejections.add("enroll_key")
            log.warning("enrollment refused for %r from %s: wrong enrollment key", str(name)[:80], request.client)
            return Response.error(403, "wrong or revoked enrollment key")
        from govwatch.schema import check_name

        if not isinstance(name, str):
            return Response.error(400, f"name: must be a string (got {type(name).__name__})")
        if check_name(name):
            return Response.error(400, f"name: {check_name(name)}")
        for field in ("ministry", "hostname", "version"):
            if body.get(field) is not None and not isinstance(body[field], str):
                return Response.error(400, f"{field}: must be a string (got {type(body[field]).__name__})")
        token = new_secret(AGENT_PREFIX)
        ministry = str(body.get("ministry") or "")[:100]
        if not self.store.add_agent(name, ministry, token, str(body.get("hostname") or "")[:200],
                                    str(body.get("version") or "")[:40]):
            return Response.error(409, f"an agent named {name!r} is already enrolled; revoke it first "
                                       f"(govwatch collector agents revoke {name})")
        log.info("agent %s enrolled from %s", name, request.client)
        return Response.json({"agent": name, "token": token, "collector_version": __version__}, 201)

    def _events(self, request: Request) -> Response:
        agent = request.identity["agent"]
        with self._decoding:
            decoded = self._decode_events(request, agent)
        if isinstance(decoded, Response):
            return decoded
        body, events = decoded
        wait = self.bucket.take(agent, max(1, len(events)))
        if wait:
            self.rejections.add("rate_limited")
            return Response.error(429, f"rate limit: retry in {wait:.1f}s", {"Retry-After": str(max(1, round(wait)))})
        now = self.store.clock()
        skew = clock.measure(events, clock.sent_at(body, request.header("X-Govwatch-Sent-At")), now,
                             self.cfg["limits"]["clock_skew"])
        if clock.correct(events, skew, now, self.cfg["limits"]["clock_skew"]):
            log.warning("agent %s: clock off by %.0f s; its events are stored with the receive time", agent,
                        skew or 0.0)
        try:
            accepted, duplicates = self.store.ingest(agent, events, skew, now)
        except StoreUnavailable as exc:
            self.rejections.count("store_unavailable")
            return Response.error(503, f"{exc}; the agent keeps the batch and retries", {"Retry-After": "30"})
        answer: dict[str, Any] = {"accepted": accepted, "duplicates": duplicates}
        commands = self.store.take_commands(agent)
        if commands:
            answer["commands"] = commands
        return Response.json(answer)

    def _decode_events(self, request: Request, agent: str) -> tuple[Any, list[dict[str, Any]]] | Response:
        """gunzip, JSON and validation of a batch: (body, events), or the 4xx answer."""
        body, problem = _json_body(request, self.max_body)
        if problem:
            self.rejections.add("malformed")
            return problem
        raw_events = body.get("events") if isinstance(body, dict) else body
        if not isinstance(raw_events, list):
            self.rejections.add("malformed")
            return Response.error(400, "body must be a JSON list of events or {\"events\": [...]}")
        if len(raw_events) > self.max_batch:
            self.rejections.add("too_large")
            return Response.error(413, f"batch of {len(raw_events)} events is over the limit of {self.max_batch}")
        try:
            events = [check_event(raw, i) for i, raw in enumerate(raw_events)]
        except EventError as exc:
            self.rejections.add("invalid_event")
            return Response.error(400, str(exc))
        for index, event in enumerate(events):
            if event["agent"] not in (None, agent):
                self.rejections.add("forbidden")
                log.warning("agent %s tried to post events as %s", agent, event["agent"])
                return Response.error(403, f"events[{index}].agent: {agent} may not post events as {event['agent']}")
        return body, events

    def _agents(self, request: Request) -> Response:
        return Response.json({"agents": agent_overview(self.store, self.cfg)})

    def _revoke(self, request: Request) -> Response:
        name = request.identity["params"]["name"]
        if not self.store.revoke_agent(name):
            return Response.error(404, f"no active agent named {name!r}")
        return Response.json({"revoked": name})

    def _sites(self, request: Request) -> Response:
        return Response.json({"sites": site_overview(self.store, self.cfg)})

    def _rebaseline(self, request: Request) -> Response:
        name = request.identity["params"]["name"]
        hook = self.hooks.get("rebaseline")
        if hook is None:
            return Response.error(503, "rebaseline is not available")
        result = hook(name, request.identity.get("user", "admin"))
        if result is None:
            return Response.error(404, f"no site named {name!r}")
        return Response.json(result)

    def _incidents(self, request: Request) -> Response:
        status = request.query.get("status")
        sql = "SELECT * FROM incidents"
        params: tuple = ()
        if status in ("open", "acknowledged", "resolved"):
            sql, params = sql + " WHERE status=?", (status,)
        rows = self.store.query(sql + " ORDER BY id DESC LIMIT 500", params)
        return Response.json({"incidents": [incident_dict(r) for r in rows]})


def incident_dict(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["evidence"] = badrows.evidence(out.get("evidence"), out.get("agent"))
    return out


def agent_overview(store: Store, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every active agent: identity, last seen, silent or not, watchers, spool backlog and watcher stats."""
    now = time.time()
    out = []
    for row in store.active_agents():
        status = badrows.agent_status(row)
        last_seen = badrows.figure(row["last_seen"])
        watchers, stats = status.get("watchers", []), status.get("stats", {})
        out.append({"name": row["name"], "ministry": row["ministry"], "version": row["version"],
                    "hostname": row["hostname"], "enrolled": row["enrolled"], "last_seen": last_seen,
                    "silent": last_seen is None or now - last_seen > cfg["agent_silent_after"],
                    "watchers": [str(x) for x in watchers] if isinstance(watchers, list) else [],
                    "spool_backlog": badrows.figure(status.get("spool_backlog")),
                    "spool_dropped": badrows.figure(status.get("spool_dropped")),
                    "collector": str(status.get("collector") or "")[:300] or None,  # which one it sends to now
                    "stats": {k: v for k, v in stats.items() if isinstance(v, dict)} if isinstance(stats, dict)
                    else {}})
    return out


def site_overview(store: Store, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every configured or agent-reported site with its current up/defaced/TLS state."""
    states = {r["site"]: dict(r) for r in store.query("SELECT * FROM site_state")}
    defaced: dict[str, list[str]] = {}
    for row in store.query("SELECT site, source FROM defacement_state WHERE defaced=1"):
        defaced.setdefault(row["site"], []).append(row["source"])
    names = [s["name"] for s in cfg["sites"]]
    names += sorted({r["site"] for r in store.query("SELECT DISTINCT site FROM defacement_state")} - set(names))
    out = []
    for name in names:
        state = states.get(name, {})
        expiry = state.get("cert_expiry")
        out.append({"name": name, "up": state.get("up"), "last_probe": state.get("last_probe"),
                    "status": state.get("status"), "duration": state.get("duration"), "error": state.get("error"),
                    "defaced": bool(defaced.get(name)), "defaced_by": defaced.get(name, []),
                    "cert_days_left": None if expiry is None else round((expiry - time.time()) / 86400, 1)})
    return out


def _json_body(request: Request, max_body: int) -> tuple[Any, Response | None]:
    raw = request.body
    encoding = request.header("Content-Encoding").lower()
    if encoding == "gzip":
        try:
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = decoder.decompress(raw, max_body + 1)
            if len(raw) > max_body or decoder.unconsumed_tail:
                return None, Response.error(413, f"decompressed body is over the limit of {max_body} bytes")
        except (zlib.error, gzip.BadGzipFile):
            return None, Response.error(400, "body is not valid gzip")
    elif encoding not in ("", "identity"):
        return None, Response.error(415, f"unsupported Content-Encoding {encoding!r} (use gzip)")
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, Response.error(400, f"body is not valid JSON: {exc}")
    except RecursionError:
        return None, Response.error(400, "body is not valid JSON: nested too deeply")
