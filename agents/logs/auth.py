"""sshd authentication lines, from /var/log/auth.log (syslog or RFC 3339 stamps) or journal JSON records.

Only sshd's own verdict lines are read ("Failed password for", "Invalid user", "Accepted publickey for");
PAM's duplicate "authentication failure" lines are ignored so a guess counts once. Every pattern is
anchored and made of possessive classes, so a hostile message costs one pass.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime

from .formats import _MONTHS

# OpenSSH >= 9.8 logs from `sshd-session`, older ones from `sshd`
_PROGRAM = re.compile(r"(?:sshd|sshd-session)(?:\[\d++\])?+: ")
# the real source is what sshd appends last: a user name may hold spaces or even " from 1.2.3.4"
_TAIL = re.compile(r"(?P<src>[0-9A-Fa-f.:]++)(?: port \d++)?+(?: ssh2)?+(?:: .*+)?+$")
_VERDICTS = (("Failed ", "failed"), ("Invalid user ", "invalid_user"), ("Accepted ", "accepted"))
MAX_USER = 64


@dataclass(slots=True)
class AuthRecord:
    """One sshd verdict: outcome is `failed`, `invalid_user` or `accepted`."""

    ts: float
    outcome: str
    user: str
    src: str
    method: str = ""


def message_record(ts: float, message: str) -> AuthRecord | None:
    """The verdict in an sshd message (the text after `sshd[pid]: `), or None."""
    outcome = next((name for prefix, name in _VERDICTS if message.startswith(prefix)), None)
    if outcome is None:
        return None
    head, sep, tail = message.rpartition(" from ")
    m = _TAIL.match(tail) if sep else None
    if m is None:
        return None
    if outcome == "invalid_user":            # "Invalid user NAME from ADDR port N"
        return AuthRecord(ts, outcome, head[len("Invalid user "):][:MAX_USER], m.group("src")[:64], "none")
    method, sep, user = head.partition(" ")[2].partition(" for ")   # "Failed password for [invalid user ]NAME"
    if not sep or not method or " " in method:
        return None
    if user.startswith("invalid user "):
        outcome, user = ("invalid_user" if outcome == "failed" else outcome), user[len("invalid user "):]
    return AuthRecord(ts, outcome, user[:MAX_USER], m.group("src")[:64], method[:32])


def syslog_time(line: str, year: int | None = None) -> float:
    """Time of a syslog line: `Dec  1 20:40:36` (the year is the current one) or RFC 3339."""
    if line[:4].isdigit():
        return datetime.fromisoformat(line[:40].split(" ", 1)[0]).timestamp()
    month = _MONTHS[line[0:3]]
    day = int(line[4:6])
    year = year or time.gmtime().tm_year
    return float(time.mktime((year, month, day, int(line[7:9]), int(line[10:12]), int(line[13:15]), 0, 0, -1)))


def syslog_record(line: str) -> AuthRecord | None:
    """An auth.log line -> record; other programs' lines and sshd's chatter -> None."""
    m = _PROGRAM.search(line, 0, 200)
    if m is None:
        return None
    record = message_record(0.0, line[m.end():])
    if record is None:
        return None
    try:
        record.ts = syslog_time(line)
    except (ValueError, KeyError, IndexError):
        return None
    return record


def journal_record(line: str) -> tuple[AuthRecord | None, str | None]:
    """A `journalctl -o json` line -> (record or None, cursor or None)."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(entry, dict):
        return None, None
    cursor = entry.get("__CURSOR") if isinstance(entry.get("__CURSOR"), str) else None
    message = entry.get("MESSAGE")
    if isinstance(message, list):   # non-UTF-8 messages come as a byte array
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode("utf-8", "replace")
    if not isinstance(message, str):
        return None, cursor
    try:
        ts = int(entry.get("__REALTIME_TIMESTAMP", "0")) / 1e6 or time.time()
    except (TypeError, ValueError):
        ts = time.time()
    return message_record(ts, message), cursor
