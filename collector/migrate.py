"""`govwatch collector migrate --to postgresql://...`: copy the SQLite store into PostgreSQL.

Every table of the SQLite file is copied (also the ones other modules install, e.g. screenshots and triage
actions), in one PostgreSQL transaction under the store's write lock, from one SQLite read snapshot: a
migration that fails leaves the target as it was. Identity sequences are moved past the copied ids, and the
row counts of both sides are compared before the command says it is done.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from govwatch.collector.config import check_store
from govwatch.collector.pg import database_error, map_ddl, redact
from govwatch.collector.store import Store
from govwatch.errors import GovwatchError
from govwatch.progress import Progress

BATCH = 2000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(src: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in src.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _pg_columns(conn: Any, table: str) -> list[str]:
    rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name=? "
                        "AND table_schema=current_schema() ORDER BY ordinal_position", (table,)).fetchall()
    return [r[0] for r in rows]


def _ensure_tables(src: sqlite3.Connection, conn: Any, tables: list[tuple[str, str]]) -> None:
    """Tables (and their indexes) that only other modules create at run time exist in the target too."""
    for name, sql in tables:
        if not _pg_columns(conn, name) and sql:
            conn.execute(map_ddl(sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)))
            for (index_sql,) in src.execute("SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? "
                                            "AND sql IS NOT NULL", (name,)):
                conn.execute(index_sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))


def _rows(src: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[list[tuple]]:
    cur = src.execute(f"SELECT {', '.join(map(_q, columns))} FROM {_q(table)}")
    while batch := cur.fetchmany(BATCH):
        yield [tuple(row) for row in batch]


class Migration:
    """One copy from `source` (SQLite file) to `target` (DSN)."""

    def __init__(self, source: str, target: str, force: bool) -> None:
        self.source, self.target, self.force = source, target, force
        self.copied = 0

    def run(self) -> dict[str, int]:
        Store(self.source).close()  # brings an older SQLite store to the current schema first
        src = sqlite3.connect(f"file:{self.source}?mode=ro", uri=True, timeout=30)
        dst = Store(self.target)
        try:
            src.execute("BEGIN")  # one read snapshot for every table
            tables = _tables(src)
            counts = {name: src.execute(f"SELECT COUNT(*) FROM {_q(name)}").fetchone()[0] for name, _ in tables}
            with Progress(f"migrate to {redact(self.target)}", count=lambda: self.copied,
                          total=sum(counts.values()), unit="rows"), dst.transaction() as conn:
                _ensure_tables(src, conn, tables)
                self._refuse_non_empty(conn, [name for name, _ in tables])
                for name, _ in tables:
                    self._copy(src, conn, name)
                self._verify(conn, counts)
            return counts
        finally:
            src.close()
            dst.close()

    def _refuse_non_empty(self, conn: Any, tables: list[str]) -> None:
        full = [t for t in tables if t != "meta" and conn.execute(f"SELECT 1 FROM {_q(t)} LIMIT 1").fetchone()]
        if full and not self.force:
            raise GovwatchError(f"migrate: {redact(self.target)} already holds data (tables {', '.join(full[:5])}); "
                                "nothing was copied. Give an empty database, or --force to replace its contents")
        for table in tables:
            conn.execute(f"DELETE FROM {_q(table)}")

    def _copy(self, src: sqlite3.Connection, conn: Any, table: str) -> None:
        wanted = _pg_columns(conn, table)
        have = [r[1] for r in src.execute(f"PRAGMA table_info({_q(table)})")]
        columns = [c for c in have if c in wanted]
        missing = [c for c in have if c not in wanted]
        if missing:
            raise GovwatchError(f"migrate: table {table}: columns {', '.join(missing)} have no place in the target")
        sql = (f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        for batch in _rows(src, table, columns):
            try:
                conn.executemany(sql, batch)
            except database_error() as exc:
                first = " ".join(str(exc).split())[:200]
                raise GovwatchError(f"migrate: table {table}: a row could not be copied ({first}); "
                                    "nothing was copied") from None
            self.copied += len(batch)
        self._move_identity(conn, table)

    @staticmethod
    def _move_identity(conn: Any, table: str) -> None:
        """Identity sequences continue after the copied ids, so the next incident is not a duplicate key."""
        for (column,) in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name=? "
                                      "AND table_schema=current_schema() AND is_identity='YES'", (table,)).fetchall():
            top = conn.execute(f"SELECT MAX({_q(column)}) FROM {_q(table)}").fetchone()[0]
            called = "true" if top is not None else "false"  # false: the next id is `top` itself (1)
            conn.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), ?, {called})", (table, column, int(top or 1)))

    @staticmethod
    def _verify(conn: Any, counts: dict[str, int]) -> None:
        for table, expected in counts.items():
            got = conn.execute(f"SELECT COUNT(*) FROM {_q(table)}").fetchone()[0]
            if got != expected:
                raise GovwatchError(f"migrate: table {table}: {got} rows in the target, {expected} in the source; "
                                    "nothing was copied")


def migrate(cfg: dict[str, Any], target: str, force: bool = False) -> tuple[str, dict[str, int]]:
    """Copy cfg's SQLite store to `target`; (source path, rows per table)."""
    problem = check_store(target)
    if problem or target == "sqlite":
        raise GovwatchError(f"migrate --to: {problem or 'must be a postgresql:// URL'}")
    source = os.path.join(cfg["data_dir"], "govwatch.db")
    if not os.path.isfile(source):
        raise GovwatchError(f"migrate: no SQLite store at {source} (data_dir in {cfg['config_file']})")
    return source, Migration(source, target, force).run()
