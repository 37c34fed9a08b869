"""Open a project database: SQLite in WAL mode, foreign keys on, a busy timeout, migrated to head
(a PostgreSQL URL is handed to ``store.server``). Schema revisions: ``revisions``; the errors it
raises: ``database_errors``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import weakref
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .database_errors import DatabaseError, NeedsUpgrade, explain_error, explain_text
from .pool import ThreadAffinePool
from .revisions import alembic_config, head_revision, refuse_foreign, refuse_unknown_revision, schema_revision

BUSY_TIMEOUT_MS = 15000
# Why a project is read as a snapshot (SQLite's ``immutable=1``): see ``read_only_snapshot``.
SNAPSHOT_WHY = ("it is a WAL project whose -shm file is missing and cannot be created there (a read-only "
                "disk or folder), so it is read as it was when opened: changes another program makes "
                "meanwhile are not seen until it is reopened")
_snapshots: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    """Per connection; WAL, which is written into the file, only once it is known to be a
    project (``_use_wal``): another application's database is left exactly as it is."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _use_wal(engine: Engine) -> None:
    """Switch the file to WAL (kept in its header: every later connection uses it)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    except OperationalError:
        pass  # locked by a program that has it open in rollback mode, or read-only: it works without


def make_engine(path: str | os.PathLike, read_only: bool = False, immutable: bool = False) -> Engine:
    """An engine for one database file; each thread takes its own sessions from it.

    ``ThreadAffinePool`` and ``check_same_thread`` on: a connection is opened, reused and closed
    in one thread only, never handed from one thread to another (issue 12). The file is opened
    by its path, never through a ``sqlite:///`` URL, which would read ``?``, ``#`` and ``%xx`` in
    a file name as URL syntax and open another file. ``immutable`` (read-only only): see
    ``read_only_snapshot``.
    """
    path = Path(path).resolve()
    url = URL.create("sqlite", database=str(path))  # shown only: the creator below opens the file
    engine = create_engine(url, poolclass=ThreadAffinePool, creator=_connector(path, read_only, immutable))
    event.listen(engine, "connect", _on_connect)
    if read_only and immutable:
        _snapshots.add(engine)
    return engine


def is_snapshot(engine: Engine) -> bool:
    """Whether the engine reads its file with ``immutable=1`` (``SNAPSHOT_WHY``)."""
    return engine in _snapshots


def _connector(path: Path, read_only: bool, immutable: bool = False) -> Callable[[], sqlite3.Connection]:
    """Opens ``path`` itself (read-only: a ``file:`` URI with the path percent-quoted)."""
    def connect() -> sqlite3.Connection:
        if read_only:
            return sqlite3.connect(sqlite_ro_uri(path, immutable), uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=True)
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=True)
    return connect


def sqlite_ro_uri(path: str | os.PathLike, immutable: bool = False) -> str:
    """SQLite's read-only URI for a file: every character of the path that URIs give a meaning
    (``?``, ``#``, ``%``) percent-quoted, so that SQLite opens exactly that file."""
    return f"file:{quote(str(Path(path).resolve()), safe='/')}?mode=ro" + ("&immutable=1" if immutable else "")


def read_only_snapshot(path: Path) -> bool:
    """Whether a read-only open must use ``immutable=1``: a WAL project whose ``-shm`` is missing
    and cannot be created (a read-only disk, share or folder) opens no other way.

    ``immutable`` reads the database file alone, ignoring the ``-wal``: allowed only when the
    ``-wal`` holds nothing the file lacks (``store.wal``); otherwise a DatabaseError says so,
    since the project would be shown without its last committed changes.
    """
    from . import wal
    from .backup import too_short

    if too_short(path):
        return False  # no database at all: the usual checks say so (a probe would create a -shm beside it)
    try:  # no busy wait: only "cannot open" matters here; the usual checks report the rest
        with contextlib.closing(sqlite3.connect(sqlite_ro_uri(path), uri=True, timeout=0)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return False
    except sqlite3.Error as exc:
        if "unable to open" not in str(exc):
            return False
    # SQLite could not open it, so no connection of this process holds locks on it that reading
    # its header and pages here (store.wal) could drop (see open_database)
    if Path(f"{path}-shm").exists() or not os.access(path, os.R_OK) or not wal.is_wal_mode(path):
        return False
    try:
        content = wal.wal_content(path)
    except OSError as exc:
        raise DatabaseError(path, f"its -wal file cannot be read ({exc.strerror or exc})") from exc
    if not content.complete_without_wal:
        raise DatabaseError(path, f"its -wal file holds {content.transactions} committed transaction(s) not yet "
                                  "written into the database file, and SQLite cannot read them here: its -shm "
                                  "file is missing and cannot be created (a read-only disk or folder); it was "
                                  "not opened, so as not to show it without its last changes: open it once "
                                  "where it can be written, or copy it with its -wal file to a writable folder")
    return True


def open_database(path: str | os.PathLike, create: bool = False, read_only: bool = False,
                  before_migrate: Callable[[str | None], None] | None = None,
                  check: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """Open (or create) a project file and bring its schema to the current version.

    Refuses, with the reason, a missing file (unless ``create``), a file that is not SQLite,
    a file that fails its integrity check (naming the last good backup), a database written by
    a newer version of the app, and a folder it cannot write to. ``read_only`` never writes
    (no migration). An existing file is backed up (online) before it is migrated, after
    ``before_migrate(current_revision)`` may have refused the migration.
    A SQLAlchemy URL (``postgresql+psycopg://user@host/db``) opens a project on a server.
    """
    from .server import is_url, open_server_database, sqlite_path_of

    if is_url(path):
        file = sqlite_path_of(str(path))
        if file is None:
            return open_server_database(str(path))
        path = file
    path = Path(path)
    immutable = False
    if path.is_dir():
        raise DatabaseError(path, "is a folder, not a project database file")
    if not path.exists():
        if not create:
            raise DatabaseError(path, "no such project database")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise DatabaseError(path, f"cannot create the database: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise DatabaseError(path, "cannot create the database: the folder is not writable")
    else:
        # Never open() the file itself: closing any descriptor of it drops every POSIX lock this
        # process's SQLite connections hold on it, so another process's last close then checkpoints
        # and deletes the -wal under them (issue 12's "disk I/O error", then a malformed file).
        # SQLite reads the header instead: "file is not a database" for anything else.
        immutable = read_only and read_only_snapshot(path)
        _refuse_damaged(path, read_only, full_check=check, immutable=immutable)
    if read_only and not path.exists():
        raise DatabaseError(path, "no such project database")
    engine = make_engine(path, read_only=read_only, immutable=immutable)
    try:
        current = schema_revision(engine)
        head = head_revision()
        if current is not None and current != head:
            refuse_unknown_revision(engine, path, current)
        if current is None:
            refuse_foreign(engine, path)
        if not read_only:
            _use_wal(engine)
        if current != head:
            if read_only:
                if current is None:  # no tables at all: making it a project is a write
                    raise DatabaseError(path, "is empty, not a project yet; open it for writing to make it one")
                raise NeedsUpgrade(path, f"needs a schema upgrade ({current} to {head}); open it once for writing")
            if before_migrate is not None:
                before_migrate(current)
            backup = None
            if current is not None:
                from .backup import make_backup

                backup = make_backup(path, f"before-{head}")
            _upgrade(engine, path, current, head, backup)
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseError(path, explain_error(exc)) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)


def _upgrade(engine: Engine, path: Path, current: str | None, head: str, backup: Path | None) -> None:
    """Migrate to ``head`` in one transaction (migrations/env.py); a failure changed nothing,
    and its error names the backup made before it."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:
        reason = explain_error(exc) if isinstance(exc, DBAPIError) else str(exc)
        kept = f"; the backup made before it is {backup}" if backup is not None else ""
        raise DatabaseError(path, f"the schema upgrade ({current} to {head}) failed: {reason}; "
                                  f"nothing was changed{kept}") from exc


def _refuse_damaged(path: Path, read_only: bool, full_check: bool = True, immutable: bool = False) -> None:
    """A file failing ``PRAGMA quick_check`` is never opened (or written to); the last good backup is named.

    Without ``full_check`` (this process has the file open and checked already) only the header
    and schema are read. A busy or unreadable file is reported as such, never as damaged.
    """
    from .backup import DamagedDatabase, check_file, latest_good_backup

    problem = check_file(path, read_only=read_only, header_only=not full_check, immutable=immutable)
    if problem == "ok" or (read_only and "readonly" in problem):
        return
    if any(word in problem for word in ("locked", "busy", "disk I/O", "unable to open")):
        raise DatabaseError(path, explain_text(problem))
    backup = latest_good_backup(path)
    if "not a database" in problem and backup is None:
        detail = problem.split(": ", 1)[1] if ": " in problem else ""  # check_file's own reason, if any
        raise DatabaseError(path, "is not a SQLite database" + (f" ({detail})" if detail else ""))
    raise DamagedDatabase(path, problem, backup)

