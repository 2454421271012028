"""Password guessing: which login-port connections and login form posts were guesses, and the rule.

A connection to a login port counts when it closes, judged on how much the client said and whether the
server let it in; a login form post counts when the server answers it without a redirect.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from . import detect
from .packets import addr_text
from .rules import AUTH_PORTS

if TYPE_CHECKING:
    from .engine import Engine

FAILURE_REPLIES = {21: (b"530",), 25: (b"535",), 587: (b"535",), 110: (b"-ERR",), 143: (b" NO ",)}
SUCCESS_REPLIES = {21: b"230", 25: b"235", 587: b"235"}


def _entry(engine: Engine, ts: float, src: int | bytes, port: int) -> list:
    """[attempt times, failure times, post times, last event, last session]; per service, since a
    scanner touching each login port once is not guessing passwords."""
    entry = engine.auth.get((src, port))
    if entry is None:
        p = engine.p["brute_force"]
        limit = int(max(p["min_attempts"], p["min_auth_failures"], p["min_login_posts"]))
        entry = engine.auth.put((src, port), [deque(maxlen=limit), deque(maxlen=limit), deque(maxlen=limit), ts,
                                              -1e18])
    return entry


def event(engine: Engine, ts: float, src: int | bytes, port: int, what: int) -> None:
    """what: 0 connection attempt, 1 failed login reply, 2 login form post."""
    entry = _entry(engine, ts, src, port)
    entry[what].append(ts)
    entry[3] = ts


def session(engine: Engine, ts: float, src: int | bytes, port: int, conn: list) -> None:
    """`src` got in on this connection (it carried a session's worth of data, or an accepted-login
    reply): its other short connections to the service in the window are a logged-in user's
    (Ansible without ControlPersist opens several small ones per task), not guesses."""
    conn[2] = True
    _entry(engine, ts, src, port)[4] = ts


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


def close(engine: Engine, ts: float, src: int | bytes, sport: int, dport: int) -> None:
    """A login-port connection ended: it was a guess only if the client spoke briefly and never got in.

    A connect-and-close liveness probe sends nothing; a session, a file copy or a deployment tool's
    task sends far more than a key exchange and a few passwords (an SSH guess: ~3 kB), or stays open
    past sshd's login grace time."""
    key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
    conn = engine.authconns.pop(key, None)
    p = engine.p["brute_force"]
    if conn is None or conn[2] or not 0 < conn[1] <= p["max_attempt_bytes"]:
        return
    if ts - conn[0] <= p["max_attempt_seconds"]:
        event(engine, ts, src, dport, 0)


def close_all(engine: Engine) -> None:
    """End of a capture: login-port connections and login posts still open are judged on what was seen."""
    for key in list(engine.authconns):
        src, sport, dport = (key >> 32, key >> 16 & 0xFFFF, key & 0xFFFF) if key.__class__ is int else key
        close(engine, engine.last_ts, src, sport, dport)
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
        if entry[3] < now - 1.0:
            continue
        attempts, failures, posts = (sum(1 for t in entry[i] if t >= since) for i in range(3))
        if entry[4] >= since:
            attempts = 0   # it logged in: its short connections are a user's, failed-login replies still count
        features = {"attempts": attempts, "auth_failures": failures, "login_posts": posts}
        service = "http-login" if posts else AUTH_PORTS.get(port, str(port))
        first = min((t for i in range(3) for t in entry[i] if t >= since), default=now)
        evidence = {"service": service, "port": port, "connection_attempts": attempts,
                    "failed_logins_seen": failures, "login_form_posts": posts, "window_s": p["window"],
                    "attempts_per_min": round(60 * max(attempts, failures, posts) / max(now - first, 1.0), 1)}
        evidence["explanation"] = (f"{addr_text(src)} made {max(attempts, posts)} {service} login attempts "
                                   f"({failures} failed-login replies seen) in {now - first:.0f}s")
        detect.report(engine, "brute_force", now, addr_text(src), detect.home_text(engine), features, evidence,
                      first, key=("brute_force", src, port))
