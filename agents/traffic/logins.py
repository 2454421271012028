"""Password guessing: which login-port connections and login form posts were guesses, and the rule.

A connection to a login port counts when it closes, judged on how much the client said and whether the
server let it in; a login form post counts when the server answers it without a redirect.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import TYPE_CHECKING

from .packets import addr_text
from .report import home_text, report
from .rules import AUTH_PORTS
from .state import top

if TYPE_CHECKING:
    from .engine import Engine

FAILURE_REPLIES = {21: (b"530",), 25: (b"535",), 587: (b"535",), 110: (b"-ERR",), 143: (b" NO ",)}
SUCCESS_REPLIES = {21: b"230", 25: b"235", 587: b"235"}


class Guesses:
    """One source's login activity on one service: times of attempts, failed-login replies and form
    posts (bounded deques), the client bytes of each attempt, when it last got in, and whether its
    attempts keep strict time (a monitoring poller or health check, learned as such)."""

    __slots__ = ("attempts", "failures", "posts", "sizes", "last", "session", "periodic")

    def __init__(self, limit: int, ts: float) -> None:
        self.attempts: deque[float] = deque(maxlen=limit)
        self.failures: deque[float] = deque(maxlen=limit)
        self.posts: deque[float] = deque(maxlen=limit)
        self.sizes: deque[int] = deque(maxlen=limit)
        self.last = ts
        self.session = -1e18
        self.periodic = False

    def learn_rhythm(self, p: dict) -> None:
        """Strictly periodic, the same small exchange each time (under `periodic_max_bytes`, less than
        an SSH key exchange): a poller (check_ssh reading the banner, a load balancer's health check, a
        backup job's liveness probe), not a guesser, whose every connection carries a key exchange and
        passwords."""
        times = self.attempts
        if len(times) < p["min_attempts"]:
            self.periodic = False
            return
        gaps = [b - a for a, b in zip(times, list(times)[1:], strict=False)]
        period = statistics.fmean(gaps)
        sizes = self.sizes
        self.periodic = (period >= p["periodic_min_period"] and max(sizes) <= p["periodic_max_bytes"]
                         and statistics.pstdev(gaps) <= p["periodic_max_cv"] * period
                         and max(sizes) - min(sizes) <= p["periodic_max_size_spread"] * max(statistics.fmean(sizes), 1))


def _entry(engine: Engine, ts: float, src: int | bytes, port: int) -> Guesses:
    """Per service, since a scanner touching each login port once is not guessing passwords."""
    entry = engine.auth.get((src, port))
    if entry is None:
        p = engine.p["brute_force"]
        limit = int(max(p["min_attempts"], p["min_auth_failures"], p["min_login_posts"]))
        entry = engine.auth.put((src, port), Guesses(limit, ts))
    return entry


def event(engine: Engine, ts: float, src: int | bytes, port: int, what: int, size: int = 0,
          shared: bool = True) -> None:
    """what: 0 connection attempt (`size` client bytes), 1 failed login reply, 2 login form post;
    `shared`: also counts towards the service's distributed-guessing tally."""
    entry = _entry(engine, ts, src, port)
    if what == 0:
        entry.attempts.append(ts)
        entry.sizes.append(size)
        entry.learn_rhythm(engine.p["brute_force"])
    else:
        (entry.failures if what == 1 else entry.posts).append(ts)
    entry.last = max(entry.last, ts, engine.now)
    if not shared:
        return
    log = engine.auth_log.get(port)
    if log is None:
        if len(engine.auth_log) >= 64:
            return
        log = engine.auth_log[port] = deque(maxlen=8192)
    log.append((ts, src))
    engine.auth_dirty.add(port)


def session(engine: Engine, ts: float, src: int | bytes, port: int, conn: list) -> None:
    """`src` got in on this connection (it carried a session's worth of data, or an accepted-login
    reply): its other short connections to the service in the window are a logged-in user's
    (Ansible without ControlPersist opens several small ones per task), not guesses."""
    conn[2] = True
    _entry(engine, ts, src, port).session = ts


def service_reply(engine: Engine, ts: float, buf: bytes, client: int | bytes, sport: int, pstart: int, pend: int,
                  dport: int) -> None:
    """Plaintext login replies: a failure is evidence, an accepted login clears its connection."""
    codes = FAILURE_REPLIES.get(sport)
    if codes and any(buf.find(code, pstart, min(pend, pstart + 64)) >= 0 for code in codes):
        event(engine, ts, client, sport, 1)
    elif sport in SUCCESS_REPLIES and buf.startswith(SUCCESS_REPLIES[sport], pstart):
        logged_in(engine, client, dport, sport)


def form_reply(engine: Engine, ts: float, client: int | bytes, cport: int, status: bytes) -> None:
    """The server answered a request on a connection that posted a login form: login forms redirect on
    success (POST-redirect-GET), so any other answer (the form again, 401, 403) was a failed guess."""
    posted = engine.login_pending.pop((client, cport), None)
    if posted is not None and status != b"3":
        event(engine, ts, client, 80, 2)


def close(engine: Engine, ts: float, src: int | bytes, sport: int, dport: int, final: bool = False) -> None:
    """A login-port connection ended: it was a guess only if the client spoke briefly and never got in.

    A connect-and-close liveness probe sends nothing; a session, a file copy or a deployment tool's
    task sends far more than a key exchange and a few passwords (an SSH guess: ~3 kB), or stays open
    past sshd's login grace time."""
    key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
    conn = engine.authconns.pop(key, None)
    p = engine.p["brute_force"]
    if conn is None or conn[2] or not 0 < conn[1] <= p["max_attempt_bytes"]:
        return
    if dport == 22 and conn[1] < p["min_ssh_attempt_bytes"]:
        return   # a version string and no key exchange (a banner check): no password can have been sent
    if ts - conn[0] <= p["max_attempt_seconds"]:
        event(engine, conn[0], src, dport, 0, conn[1], shared=not final)   # opening time: a poller's clock


def close_all(engine: Engine) -> None:
    """End of a capture: login-port connections and login posts still open are judged on what was seen.

    Connections cut by the end of the capture count towards their own source only: a busy server's
    capture ends with every admin's SSH session open, and those many sources are not a distributed
    guessing campaign."""
    for key in list(engine.authconns):
        src, sport, dport = (key >> 32, key >> 16 & 0xFFFF, key & 0xFFFF) if key.__class__ is int else key
        close(engine, engine.last_ts, src, sport, dport, final=True)
    while engine.login_pending:   # login form posts whose reply was never seen
        (src, _port), _ts = engine.login_pending.popitem(last=False)
        event(engine, engine.last_ts, src, 80, 2)


def logged_in(engine: Engine, client: int | bytes, cport: int, port: int) -> None:
    """The server sent a login-accepted reply (FTP 230, SMTP 235) on this connection."""
    key = client << 32 | cport << 16 | port if client.__class__ is int else (client, cport, port)
    conn = engine.authconns.get(key)
    if conn is not None:
        session(engine, engine.last_ts, client, port, conn)


def evaluate(engine: Engine, now: float) -> None:
    """Once a second: judge what is due, then ask the rule about each source active this second."""
    p = engine.p["brute_force"]
    engine.authconns.expire(now - p["max_attempt_seconds"], 0)   # open that long: a session, not a guess
    pending = engine.login_pending
    while pending and next(iter(pending.values())) < now - 5.0:   # no reply seen (one-way capture): a guess
        (src, _port), _ts = pending.popitem(last=False)
        event(engine, now, src, 80, 2)
    since = now - p["window"]
    for (src, port), entry in list(engine.auth.items())[-256:]:
        if entry.last < now - 1.0:
            continue
        attempts, failures, posts = (sum(1 for t in times if t >= since)
                                     for times in (entry.attempts, entry.failures, entry.posts))
        if entry.session >= since:
            attempts = 0   # it logged in: its short connections are a user's, failed-login replies still count
        features = {"attempts": attempts, "auth_failures": failures, "login_posts": posts,
                    "periodic": entry.periodic}
        service = "http-login" if posts else AUTH_PORTS.get(port, str(port))
        first = min((t for times in (entry.attempts, entry.failures, entry.posts) for t in times if t >= since),
                    default=now)
        evidence = {"service": service, "port": port, "distributed": False, "sources": 1,
                    "connection_attempts": attempts, "failed_logins_seen": failures, "login_form_posts": posts,
                    "window_s": p["window"],
                    "attempts_per_min": round(60 * max(attempts, failures, posts) / max(now - first, 1.0), 1)}
        evidence["explanation"] = (f"{addr_text(src)} made {max(attempts, posts)} {service} login attempts "
                                   f"({failures} failed-login replies seen) in {now - first:.0f}s")
        report(engine, "brute_force", now, addr_text(src), home_text(engine), features, evidence, first,
               key=("brute_force", src, port))
    for port in engine.auth_dirty:   # services that saw a guess this second
        _distributed(engine, now, port, engine.auth_log[port], since)
    engine.auth_dirty.clear()


def _distributed(engine: Engine, now: float, port: int, log: deque, since: float) -> None:
    """Many sources, a few guesses each, against one service in the window: one anomaly for the
    service. Sources that logged in there or keep a poller's rhythm are not counted."""
    while log and log[0][0] < since:
        log.popleft()
    per_source: dict[int | bytes, int] = {}
    for _ts, src in log:
        per_source[src] = per_source.get(src, 0) + 1
    for src in list(per_source):
        entry = engine.auth.get((src, port))
        if entry is not None and (entry.session >= since or entry.periodic):
            del per_source[src]
    attempts = sum(per_source.values())
    features = {"distributed_sources": len(per_source), "distributed_attempts": attempts}
    busiest = top(per_source, 5)
    service = "http-login" if port == 80 else AUTH_PORTS.get(port, str(port))
    first = log[0][0] if log else now
    evidence = {"service": service, "port": port, "distributed": True, "sources": len(per_source),
                "attempts": attempts, "window_s": engine.p["brute_force"]["window"],
                "top_sources": [{"addr": addr_text(k), "attempts": v} for k, v in busiest],
                "explanation": f"{len(per_source)} sources made {attempts} {service} login attempts in "
                               f"{now - first:.0f}s (at most {busiest[0][1] if busiest else 0} each): "
                               "distributed password guessing"}
    report(engine, "brute_force", now, "many", home_text(engine), features, evidence, first,
           key=("brute_force", "distributed", port))
