"""`govwatch collector check`: open every file collector.yml names, and the store, as `run` will.

Validating the YAML is not enough: a token file that is missing, a key that does not match its
certificate or a store that cannot be opened make `run` fail after `check` said ok. Each problem here is
one line `key: what is wrong; what to do`.
"""

from __future__ import annotations

import os
import sqlite3
import ssl
from typing import Any

from govwatch.collector.config import db_path
from govwatch.collector.migrations import SCHEMA_VERSION
from govwatch.collector.pg import PgConnection, PgUnavailable, database_error, is_dsn, redact
from govwatch.errors import GovwatchError
from govwatch.secretfile import read_secret


def problems(cfg: dict[str, Any]) -> list[str]:
    """Every problem `collector run` would meet with these files (empty when it will start)."""
    found = []
    for key, what in (("admin_token_file", "admin token"), ("enroll_key_file", "enrollment key")):
        try:
            read_secret(cfg[key], what)
        except GovwatchError as exc:
            found.append(f"{key}: {exc}; run `govwatch collector init` or fix the path")
    if cfg["tls"]:
        found += _tls(cfg["tls"])
    problem, _line = store_line(cfg)
    return found + ([problem] if problem else [])


def _tls(tls: dict[str, Any]) -> list[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    out = [f"tls.{key}: {tls[key]} does not exist; give the file from `collector init`"
           for key in ("cert", "key") if not os.path.isfile(tls[key])]
    try:
        if not out:
            context.load_cert_chain(tls["cert"], tls["key"])
    except (ssl.SSLError, OSError) as exc:
        out.append(f"tls.cert: {tls['cert']} and tls.key {tls['key']} cannot be loaded together "
                   f"({getattr(exc, 'reason', None) or exc}); is the key the certificate's own?")
    if tls.get("ca"):
        try:
            ssl.create_default_context(cafile=tls["ca"])
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            out.append(f"tls.ca: {tls['ca']} is not a readable PEM certificate ({reason})")
    return out


def store_line(cfg: dict[str, Any]) -> tuple[str | None, str]:
    """(problem, description) of the configured store: PostgreSQL is connected to and its schema read."""
    target = db_path(cfg)
    if not is_dsn(target):
        problem = _store(cfg)
        return (problem[0] if problem else None), f"sqlite {target}"
    try:
        conn = PgConnection(target, "govwatch-check")
    except PgUnavailable as exc:
        return f"store: {exc}", f"postgresql {redact(target)}"
    row = None
    try:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = f"schema version {row[0]}" if row else "schema not installed yet (run creates it)"
        except database_error():
            version = "empty database (run creates the schema)"
        server = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    finally:
        conn.close()
    if row is not None and str(row[0]).isdigit() and int(row[0]) > SCHEMA_VERSION:
        return (f"store: {redact(target)} has schema version {row[0]}, newer than this govwatch understands "
                f"({SCHEMA_VERSION})"), f"postgresql {redact(target)}"
    return None, f"postgresql {redact(target)} (PostgreSQL {server}, {version})"


def _store(cfg: dict[str, Any]) -> list[str]:
    path, folder = db_path(cfg), cfg["data_dir"]
    if not os.path.exists(path):
        probe = folder
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if probe and not os.access(probe, os.W_OK | os.X_OK):
            return [f"data_dir: {folder} cannot be created or written by this user; fix its owner or the path"]
        return []
    if not os.access(folder, os.W_OK | os.X_OK) or not os.access(path, os.R_OK | os.W_OK):
        return [f"data_dir: the store {path} is not writable by this user; run as its owner (e.g. govwatch)"]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"data_dir: the store {path} cannot be opened ({exc}); restore it from backup or move it aside"]
    return []
