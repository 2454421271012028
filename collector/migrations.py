"""Schema install and migrations, the same on SQLite and PostgreSQL.

schema.sql (SQLite syntax, mapped for PostgreSQL by pg.translate) creates what is missing; the version row
in `meta` says which migrations an existing store has had. A store newer than this code is refused with one
line, because an older collector would misread columns it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from govwatch.collector.pg import split_script
from govwatch.errors import GovwatchError

SCHEMA_VERSION = 2


class StoreTooNew(GovwatchError):
    """The store was written by a newer govwatch."""


def _rename(old: str, new: str, table: str) -> Callable[[Any, Any], None]:
    def step(conn: Any, backend: Any) -> None:
        if old in backend.columns(conn, table) and new not in backend.columns(conn, table):
            quoted = f'"{old}"'
            conn.execute(f"ALTER TABLE {table} RENAME COLUMN {quoted} TO {new}")
    return step


def _v2(conn: Any, backend: Any) -> None:
    """Columns named with reserved words (`user`, `end`) renamed so every statement runs on PostgreSQL."""
    _rename("user", "username", "sessions")(conn, backend)
    _rename("end", "ended", "outages")(conn, backend)


MIGRATIONS: dict[int, Callable[[Any, Any], None]] = {2: _v2}


def schema_script() -> list[str]:
    return split_script(resources.files("govwatch.collector").joinpath("schema.sql").read_text(encoding="utf-8"))


def install_schema(store: Any) -> int:
    """Create missing tables, run the migrations this store lacks; return its schema version."""
    with store.transaction() as conn:
        for statement in schema_script():
            conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        have = int(row[0]) if row is not None and str(row[0]).isdigit() else None
        if have is not None and have > SCHEMA_VERSION:
            raise StoreTooNew(f"store {store.where} has schema version {have}, newer than this govwatch "
                              f"understands ({SCHEMA_VERSION}); run the govwatch release that wrote it, or newer")
        for version in range(have or 1, SCHEMA_VERSION):
            MIGRATIONS[version + 1](conn, store.backend)
        conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(SCHEMA_VERSION),))
    return SCHEMA_VERSION
