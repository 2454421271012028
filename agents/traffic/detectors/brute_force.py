"""brute_force: password guessing, per source and distributed (many sources, few tries each).

A connection to a login port counts when it closes, judged on how much the client said and whether the
server let it in; a failed-login reply (FTP 530, SMTP 535, POP3 -ERR, IMAP NO) counts; a login form post
counts when the server answers it without a redirect. Regular machines are learned, not allow-listed:
an SSH connection with less than a key exchange (a banner check) cannot carry a password, a source whose
connections keep strict time with the same small exchange is a poller, a connection with a session's
worth of bytes or keystrokes is a session.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

from ..packets import addr_text
from ..report import home_text
from ..state import BoundedTable, top
from ..table import Detector, SecondTable, register

AUTH_PORTS = {22: "ssh", 21: "ftp", 23: "telnet", 25: "smtp", 110: "pop3", 143: "imap", 465: "smtps",
              587: "submission", 993: "imaps", 995: "pop3s", 1433: "mssql", 3306: "mysql", 3389: "rdp",
              5432: "postgresql", 5900: "vnc"}
LOGIN_PATHS = ["/wp-login.php", "/xmlrpc.php", "/login", "/admin", "/user/login", "/administrator",
               "/phpmyadmin", "/signin", "/auth"]
FAILURE_REPLIES = {21: (b"530",), 25: (b"535",), 587: (b"535",), 110: (b"-ERR",), 143: (b" NO ",)}
SUCCESS_REPLIES = {21: b"230", 25: b"235", 587: b"235"}
ATTEMPT, FAILURE, POST = range(3)


class LoginConn:
    """One open connection to a login port: when it opened, what the client sent, whether it got in."""

    __slots__ = ("opened", "nbytes", "segments", "logged_in")

    def __init__(self, ts: float) -> None:
        self.opened, self.nbytes, self.segments, self.logged_in = ts, 0, 0, False


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


@register
class BruteForce(Detector):
    kind = "brute_force"
    PARAMS = {"ports": sorted(AUTH_PORTS), "window": 300.0, "min_attempts": 10, "min_auth_failures": 5,
              "max_attempt_bytes": 16384, "max_attempt_seconds": 120.0, "max_attempt_segments": 40,
              "min_ssh_attempt_bytes": 600, "login_paths": LOGIN_PATHS, "min_login_posts": 10,
              "periodic_min_period": 0.5, "periodic_max_cv": 0.1, "periodic_max_size_spread": 0.1,
              "periodic_max_bytes": 1024, "min_distributed_sources": 20, "min_distributed_attempts": 40,
              "quiet": 120.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        attempts = 0 if f.get("periodic") else f.get("attempts", 0)   # a poller's clockwork checks are not guesses
        distributed = (f.get("distributed_sources", 0) >= p["min_distributed_sources"]
                       and f.get("distributed_attempts", 0) >= p["min_distributed_attempts"])
        return (attempts >= p["min_attempts"] or f.get("auth_failures", 0) >= p["min_auth_failures"]
                or f.get("login_posts", 0) >= p["min_login_posts"] or distributed)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        p = self.p
        self.ports = set(p["ports"])
        self.login_paths = [s.encode() for s in p["login_paths"]]
        self.limit = int(max(p["min_attempts"], p["min_auth_failures"], p["min_login_posts"]))
        self.now = 0.0
        self.auth = BoundedTable(10000)          # (src, port) -> Guesses
        self.log: dict[int, deque] = {}          # login port -> recent (time, source) of every guess
        self.dirty: set[int] = set()             # login ports with a guess since the last second
        self.conns = BoundedTable(16384)         # connection key -> LoginConn
        self.pending = BoundedTable(4096)        # (client, port) that posted a login form -> ts, until the reply

    def tables(self) -> list[Any]:
        return [self.auth, self.conns, self.pending]

    def login_ports(self) -> set[int]:
        return self.ports

    # ---- hooks (per packet) ---------------------------------------------------------------------
    def login_open(self, ts: float, key: Any) -> None:
        self.conns.put(key, LoginConn(ts))

    def login_data(self, ts: float, src: Any, sport: int, dport: int, size: int) -> None:
        key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
        conn = self.conns.get(key)
        if conn is not None:
            conn.nbytes += size
            conn.segments += 1
            if not conn.logged_in and (conn.nbytes > self.p["max_attempt_bytes"]
                                       or conn.segments > self.p["max_attempt_segments"]):
                self._session(ts, src, dport, conn)   # a session's worth of bytes or keystrokes

    def login_close(self, ts: float, src: Any, sport: int, dport: int, final: bool = False) -> None:
        """A login-port connection ended: a guess only if the client spoke briefly and never got in.

        A connect-and-close liveness probe sends nothing; a session, a file copy or a deployment tool's
        task sends far more than a key exchange and a few passwords (an SSH guess: ~3 kB), or stays open
        past sshd's login grace time."""
        key = src << 32 | sport << 16 | dport if src.__class__ is int else (src, sport, dport)
        conn = self.conns.pop(key, None)
        p = self.p
        if conn is None or conn.logged_in or not 0 < conn.nbytes <= p["max_attempt_bytes"]:
            return
        if dport == 22 and conn.nbytes < p["min_ssh_attempt_bytes"]:
            return   # a version string and no key exchange (a banner check): no password can have been sent
        if ts - conn.opened <= p["max_attempt_seconds"]:
            self._event(conn.opened, src, dport, ATTEMPT, conn.nbytes, shared=not final)   # a poller's clock

    def http_request(self, ts: float, src: Any, sport: int, head: bytes) -> None:
        if head.startswith(b"POST ") and self.login_paths:
            lowered = head[:2048].lower()
            path = lowered[5:lowered.find(b" ", 5)]
            if any(path.startswith(login) for login in self.login_paths):
                self.pending.put((src, sport), ts)   # judged by the reply

    def http_status(self, ts: float, client: Any, cport: int, status: bytes) -> None:
        """Login forms redirect on success (POST-redirect-GET), so any other answer to a login post
        (the form again, 401, 403) was a failed guess."""
        if self.pending:
            posted = self.pending.pop((client, cport), None)
            if posted is not None and status != b"3":
                self._event(ts, client, 80, POST)

    def service_reply(self, ts: float, buf: bytes, client: Any, sport: int, pstart: int, pend: int,
                      cport: int) -> None:
        """Plaintext login replies: a failure is evidence, an accepted login clears its connection."""
        codes = FAILURE_REPLIES.get(sport)
        if codes and any(buf.find(code, pstart, min(pend, pstart + 64)) >= 0 for code in codes):
            self._event(ts, client, sport, FAILURE)
        elif sport in SUCCESS_REPLIES and buf.startswith(SUCCESS_REPLIES[sport], pstart):
            key = client << 32 | cport << 16 | sport if client.__class__ is int else (client, cport, sport)
            conn = self.conns.get(key)
            if conn is not None:
                self._session(self.view.last_ts, client, sport, conn)

    # ---- state --------------------------------------------------------------------------------
    def _entry(self, ts: float, src: Any, port: int) -> Guesses:
        """Per service, since a scanner touching each login port once is not guessing passwords."""
        entry = self.auth.get((src, port))
        if entry is None:
            entry = self.auth.put((src, port), Guesses(self.limit, ts))
        return entry

    def _event(self, ts: float, src: Any, port: int, what: int, size: int = 0, shared: bool = True) -> None:
        """`shared`: also counts towards the service's distributed-guessing tally."""
        entry = self._entry(ts, src, port)
        if what == ATTEMPT:
            entry.attempts.append(ts)
            entry.sizes.append(size)
            entry.learn_rhythm(self.p)
        else:
            (entry.failures if what == FAILURE else entry.posts).append(ts)
        entry.last = max(entry.last, ts, self.now)
        if not shared:
            return
        log = self.log.get(port)
        if log is None:
            if len(self.log) >= 64:
                return
            log = self.log[port] = deque(maxlen=8192)
        log.append((ts, src))
        self.dirty.add(port)

    def _session(self, ts: float, src: Any, port: int, conn: LoginConn) -> None:
        """`src` got in on this connection: its other short connections to the service in the window
        are a logged-in user's (Ansible without ControlPersist opens several small ones per task)."""
        conn.logged_in = True
        self._entry(ts, src, port).session = ts

    def finish(self, last_ts: float) -> None:
        """Connections cut by the end of the capture count towards their own source only: a busy
        server's capture ends with every admin's SSH session open, and those many sources are not a
        distributed guessing campaign. Login posts whose reply was never seen were guesses."""
        for key in list(self.conns):
            src, sport, dport = (key >> 32, key >> 16 & 0xFFFF, key & 0xFFFF) if key.__class__ is int else key
            self.login_close(last_ts, src, sport, dport, final=True)
        while self.pending:
            (src, _port), _ts = self.pending.popitem(last=False)
            self._event(last_ts, src, 80, POST)

    # ---- once a second --------------------------------------------------------------------------
    def second(self, now: float, table: SecondTable) -> None:
        p = self.p
        self.now = now
        conns, cutoff = self.conns, now - p["max_attempt_seconds"]
        while conns and next(iter(conns.values())).opened < cutoff:   # open that long: a session, not a guess
            conns.popitem(last=False)
        pending = self.pending
        while pending and next(iter(pending.values())) < now - 5.0:   # no reply seen (one-way capture)
            (src, _port), _ts = pending.popitem(last=False)
            self._event(now, src, 80, POST)
        since = now - p["window"]
        for (src, port), entry in list(self.auth.items())[-256:]:
            if entry.last >= now - 1.0:
                self._judge(now, since, src, port, entry)
        for port in self.dirty:   # services that saw a guess this second
            self._distributed(now, port, self.log[port], since)
        self.dirty.clear()

    def _judge(self, now: float, since: float, src: Any, port: int, entry: Guesses) -> None:
        attempts, failures, posts = (sum(1 for t in times if t >= since)
                                     for times in (entry.attempts, entry.failures, entry.posts))
        if entry.session >= since:
            attempts = 0   # it logged in: its short connections are a user's, failed-login replies still count
        features = {"attempts": attempts, "auth_failures": failures, "login_posts": posts, "periodic": entry.periodic}
        service = "http-login" if posts else AUTH_PORTS.get(port, str(port))
        first = min((t for times in (entry.attempts, entry.failures, entry.posts) for t in times if t >= since),
                    default=now)
        evidence = {"service": service, "port": port, "distributed": False, "sources": 1,
                    "connection_attempts": attempts, "failed_logins_seen": failures, "login_form_posts": posts,
                    "window_s": self.p["window"],
                    "attempts_per_min": round(60 * max(attempts, failures, posts) / max(now - first, 1.0), 1)}
        evidence["explanation"] = (f"{addr_text(src)} made {max(attempts, posts)} {service} login attempts "
                                   f"({failures} failed-login replies seen) in {now - first:.0f}s")
        self.report(self.kind, now, addr_text(src), home_text(self.view), evidence, features, first,
                    (self.kind, src, port))

    def _distributed(self, now: float, port: int, log: deque, since: float) -> None:
        """Many sources, a few guesses each, against one service in the window: one anomaly for the
        service. Sources that logged in there or keep a poller's rhythm are not counted."""
        while log and log[0][0] < since:
            log.popleft()
        per_source: dict[Any, int] = {}
        for _ts, src in log:
            per_source[src] = per_source.get(src, 0) + 1
        for src in list(per_source):
            entry = self.auth.get((src, port))
            if entry is not None and (entry.session >= since or entry.periodic):
                del per_source[src]
        attempts = sum(per_source.values())
        features = {"distributed_sources": len(per_source), "distributed_attempts": attempts}
        busiest = top(per_source, 5)
        service = "http-login" if port == 80 else AUTH_PORTS.get(port, str(port))
        first = log[0][0] if log else now
        evidence = {"service": service, "port": port, "distributed": True, "sources": len(per_source),
                    "attempts": attempts, "window_s": self.p["window"],
                    "top_sources": [{"addr": addr_text(k), "attempts": v} for k, v in busiest],
                    "explanation": f"{len(per_source)} sources made {attempts} {service} login attempts in "
                                   f"{now - first:.0f}s (at most {busiest[0][1] if busiest else 0} each): "
                                   "distributed password guessing"}
        self.report(self.kind, now, "many", home_text(self.view), evidence, features, first,
                    (self.kind, "distributed", port))
