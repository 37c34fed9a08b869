"""Copy a whole project from one database to another (a SQLite file to a PostgreSQL server, or back).

Both sides are brought to the current schema by the same Alembic migrations first, so every
table has the same columns; rows keep their ids (contours keep pointing at their images, labels
at their contours). The destination must be empty and is written in one transaction: a failed
copy leaves nothing behind. Counts are compared table by table before the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..core.errors import MammoError
from ..core.progress import ProgressFn, no_progress
from ..store.engine import open_database
from ..store.schema import Base
from ..store.server import display_url, is_url, sqlite_path_of

BATCH = 500


@dataclass
class MigrationReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied

    def summary(self) -> str:
        total = sum(self.rows.values())
        main = ", ".join(f"{self.rows.get(t, 0)} {t}" for t in ("images", "annotations", "model_versions", "features"))
        return f"{total} rows copied ({main})"


def _shown(target: str) -> str:
    return display_url(target) if is_url(target) and sqlite_path_of(target) is None else str(target)


def _datetime_for(dialect: str):
    """Timestamps as UTC: aware for PostgreSQL's timestamptz, naive UTC for SQLite's text."""
    def convert(value):
        if not isinstance(value, datetime):
            return value
        aware = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return aware if dialect == "postgresql" else aware.replace(tzinfo=None)
    return convert


def _row_counts(conn: Connection) -> dict[str, int]:
    return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in Base.metadata.sorted_tables}


def _reset_sequences(conn: Connection) -> None:
    """After inserting explicit ids, PostgreSQL's serial counters must move past them."""
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].name == "id" and pk[0].autoincrement in (True, "auto"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            ))


def copy_database(source: Engine, dest: Engine, progress: ProgressFn = no_progress, dest_name: str = "destination") -> MigrationReport:
    """Copy every table of ``source`` into the empty ``dest`` (both at the current schema)."""
    report = MigrationReport()
    convert = _datetime_for(dest.dialect.name)
    with source.connect() as src, dest.begin() as dst:
        existing = _row_counts(dst)
        held = {t: n for t, n in existing.items() if n}
        if held:
            raise MammoError(f"{dest_name}: the destination already holds data ({', '.join(f'{n} {t}' for t, n in held.items())}); "
                             "migrate only into an empty database")
        expected = _row_counts(src)
        total, done = sum(expected.values()), 0
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            result = src.execution_options(stream_results=True).execute(select(table).order_by(*order))
            copied = 0
            while batch := result.fetchmany(BATCH):
                dst.execute(insert(table), [{k: convert(v) for k, v in row._mapping.items()} for row in batch])
                copied += len(batch)
                done += len(batch)
                progress(done, total, f"{table.name}: {copied}")
            report.rows[table.name] = copied
        if dest.dialect.name == "postgresql":
            _reset_sequences(dst)
        got = _row_counts(dst)
        if got != expected:
            raise MammoError(f"{dest_name}: copy incomplete ({got} instead of {expected}); nothing was kept")
    progress(total, total, report.summary())
    return report


def migrate_project(source: str, dest: str, progress: ProgressFn = no_progress) -> MigrationReport:
    """``mammo-annotator migrate --from SRC --to DEST``: SRC is left as it was (apart from a
    schema upgrade when it is older); DEST is created when it is a new file."""
    src_engine, _ = open_database(source)
    try:
        dst_engine, _ = open_database(dest, create=True)
        try:
            return copy_database(src_engine, dst_engine, progress, dest_name=_shown(dest))
        except DBAPIError as exc:  # a table missing or unreadable on either side: the copy rolled back
            first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise MammoError(f"{_shown(source)} -> {_shown(dest)}: the copy stopped and nothing was kept "
                             f"(the database said: {first})") from exc
        finally:
            dst_engine.dispose()
    finally:
        src_engine.dispose()
