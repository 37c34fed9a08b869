"""Alembic environment: the engine comes from the caller (store.engine), never from an ini file.

Every run (all its steps) is one transaction, committed whole or not at all. PostgreSQL gives
that with ``engine.begin()``. SQLite's driver does not: pysqlite begins no transaction before
DDL, so an ``ADD COLUMN`` committed on its own while a later failure rolled back the version
update (then "duplicate column" at every open). There we issue ``BEGIN`` ourselves, with
foreign keys off meanwhile (a batch table rebuild drops and recreates a parent table; with
them on, the DROP cascades into child rows) and checked before the commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator

from alembic import context
from sqlalchemy.engine import Connection, Engine

from mammo_annotator.store.schema import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()


@contextlib.contextmanager
def sqlite_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in an explicit ``BEGIN IMMEDIATE`` that covers DDL too; foreign keys off
    inside (``PRAGMA foreign_keys`` cannot change in a transaction), restored after."""
    with engine.connect() as connection:
        raw: sqlite3.Connection = connection.connection.driver_connection
        keys_were_on = raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        level = raw.isolation_level
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.isolation_level = None  # pysqlite then starts (and skips) no transaction of its own
        try:
            with connection.begin():  # its commit/rollback end our BEGIN (pysqlite's own BEGIN is a no-op)
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                refuse_broken_links(connection)
        finally:
            raw.isolation_level = level
            if keys_were_on:
                raw.execute("PRAGMA foreign_keys=ON")


def refuse_broken_links(connection: Connection) -> None:
    """Foreign keys were off: a migration that left a row pointing at nothing is rolled back."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(f"the migration would leave {len(broken)} rows pointing at missing rows "
                           f"(tables {', '.join(tables)}); it was rolled back")


engine = context.config.attributes["engine"]
if engine.dialect.name == "sqlite":
    with sqlite_transaction(engine) as conn:
        run(conn)
else:
    with engine.begin() as conn:
        run(conn)
