"""Console users, passwords, sessions and the checks that keep another site from acting for them.

Passwords: scrypt with a per-user salt (standard library, memory-hard). Sessions: a random id that
lives only in the browser's cookie; the store keeps its SHA-256, so a copy of the database cannot
be replayed as a login. Each session has its own CSRF token, required on every state change, and
every state change must also come from our own origin when the browser says where it came from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from govwatch.collector.httpd import Request
from govwatch.collector.store import Store

SESSION_COOKIE = "gw_session"
PRELOGIN_COOKIE = "gw_pre"
CSRF_HEADER = "X-CSRF-Token"
IDLE_SECONDS = 12 * 3600
MAX_SECONDS = 7 * 86400
MIN_PASSWORD = 10
ROLES = ("viewer", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SAFE_METHODS = ("GET", "HEAD")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Users:
    """The users table: admins and viewers of the console."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    def count(self) -> int:
        return self.store.query("SELECT COUNT(*) AS n FROM users")[0]["n"]

    def all(self) -> list[Any]:
        return self.store.query("SELECT name, role, created, disabled FROM users ORDER BY name")

    def create(self, name: str, role: str, password: str, only_if_none: bool = False) -> bool:
        """Add a user; False if the name is taken (or, with only_if_none, if any user exists)."""
        with self.store.transaction() as conn:
            if only_if_none and conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                return False
            cur = conn.execute("INSERT INTO users(name, role, password_hash, created) VALUES (?,?,?,?) "
                               "ON CONFLICT(name) DO NOTHING",
                               (name, role, hash_password(password), self.clock()))
            return cur.rowcount == 1

    def verify(self, name: str, password: str) -> Any:
        """The user if the password is right and the account enabled (same cost whether or not it exists)."""
        row = self.store.reader().execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        ok = check_password(password, row["password_hash"] if row else _DUMMY_HASH)
        return row if ok and row is not None and row["disabled"] is None else None

    def set_disabled(self, name: str, disabled: bool) -> bool:
        with self.store.transaction() as conn:
            cur = conn.execute("UPDATE users SET disabled=? WHERE name=?", (self.clock() if disabled else None, name))
            if disabled:
                conn.execute("DELETE FROM sessions WHERE username=?", (name,))
            return cur.rowcount == 1


class Sessions:
    """Server-side sessions with idle and absolute expiry."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    def create(self, user: str) -> str:
        """Start a session; return the id for the cookie (only its digest is stored)."""
        session_id, now = secrets.token_urlsafe(32), self.clock()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            conn.execute("INSERT INTO sessions(id_sha256, username, csrf, created, expires) VALUES (?,?,?,?,?)",
                         (digest(session_id), user, secrets.token_urlsafe(32), now, now + IDLE_SECONDS))
        return session_id

    def lookup(self, request: Request) -> dict[str, Any] | None:
        """{user, role, csrf, sid} for the request's session cookie, sliding its idle expiry; else None."""
        session_id = request.cookies().get(SESSION_COOKIE)
        if not session_id or len(session_id) > 200:
            return None
        sid = digest(session_id)
        row = self.store.reader().execute(
            "SELECT s.username, s.csrf, s.created, s.expires, u.role FROM sessions s "
            "JOIN users u ON u.name = s.username WHERE s.id_sha256=? AND u.disabled IS NULL", (sid,)).fetchone()
        now = self.clock()
        if row is None or row["expires"] < now or now - row["created"] > MAX_SECONDS:
            return None
        if row["expires"] - now < IDLE_SECONDS - 60:  # slide at most once a minute: few writes
            with self.store.transaction() as conn:
                conn.execute("UPDATE sessions SET expires=? WHERE id_sha256=?", (now + IDLE_SECONDS, sid))
        return {"user": row["username"], "role": row["role"], "csrf": row["csrf"], "sid": sid}

    def end(self, sid: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id_sha256=?", (sid,))


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another origin (Origin, else Referer)."""
    claimed = request.header("Origin") or request.header("Referer")
    if not claimed:
        return True  # non-browser clients; the CSRF token still has to match
    parts = urlsplit(claimed)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.header("Host").lower()


def token_matches(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def cookie(name: str, value: str, secure: bool, max_age: int | None = None, http_only: bool = True) -> str:
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


class LoginThrottle:
    """At most `limit` failed logins per client address in `window` seconds, counted in the store so the
    limit holds whichever collector a guess lands on (several collectors share one PostgreSQL)."""

    def __init__(self, store: Store, limit: int = 10, window: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.limit, self.window, self.clock = store, limit, window, clock

    def blocked(self, client: str) -> bool:
        rows = self.store.query("SELECT COUNT(*) AS n FROM login_failures WHERE client=? AND ts > ?",
                                (client[:100], self.clock() - self.window))
        return int(rows[0]["n"]) >= self.limit

    def failed(self, client: str) -> None:
        """Record one failure; expired rows go in the same write, so the table holds one window's worth.
        Only the most recent `limit` failures of an address matter, so more are not kept."""
        now = self.clock()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE ts <= ?", (now - self.window,))
            count = conn.execute("SELECT COUNT(*) FROM login_failures WHERE client=?", (client[:100],)).fetchone()
            if int(count[0]) < self.limit:
                conn.execute("INSERT INTO login_failures(client, ts) VALUES (?,?)", (client[:100], now))
            else:  # keep the newest `limit`: move the oldest one to now
                conn.execute("UPDATE login_failures SET ts=? WHERE id = (SELECT id FROM login_failures "
                             "WHERE client=? ORDER BY ts LIMIT 1)", (now, client[:100]))
