"""Rolling backups of a project file, its integrity check, and restoring a backup.

Backups use SQLite's online backup API (``sqlite3.Connection.backup``): a consistent snapshot
of a live database while other connections keep writing, unlike a file copy, which can catch
a half-checkpointed file or miss the WAL. Each backup is written to a temp file, checked with
``PRAGMA quick_check``, made self-contained (rollback journal, no -wal) and renamed into
``<project>.backups/``; only the newest ``KEEP`` are kept. Nothing here replaces a file that
another process may have open: restoring moves the damaged file and its -wal/-shm aside
together (the caller holds the project's instance lock) and puts a fresh copy in its place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from .engine import DatabaseError

KEEP = 8
DAILY_S = 24 * 3600
SIDECARS = ("-wal", "-shm")


class DamagedDatabase(DatabaseError):
    """The project file fails its integrity check; names the last good backup, if any."""

    def __init__(self, path: object, problem: str, backup: Path | None):
        self.problem = problem
        self.backup = backup
        if backup is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(backup.stat().st_mtime))
            offer = (f"the last good backup is {backup} ({when}); restore it with "
                     f"'mammo-annotator backups --db {path} --restore'")
        else:
            offer = "no backup of it exists"
        super().__init__(path, f"is damaged (integrity check: {problem}); it was not opened; {offer}")


def backup_dir(db_path: str | os.PathLike) -> Path:
    p = Path(db_path)
    return p.with_name(p.name + ".backups")


def _ro_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def quick_check(conn: sqlite3.Connection, full: bool = False) -> str:
    """'ok', or the first problems SQLite reports (a driver error counts as one)."""
    try:
        rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    text = "; ".join(str(r[0]) for r in rows)
    return "ok" if text == "ok" else text.replace("\n", " ")[:300]


def check_file(path: str | os.PathLike, full: bool = False, read_only: bool = False, header_only: bool = False) -> str:
    """Integrity of a database file as SQLite sees it (its WAL included): 'ok' or the problem.

    ``header_only``: just that SQLite can read it and its schema (cheap, for a file this process
    has open and checked already).
    """
    path = Path(path)
    try:
        conn = (sqlite3.connect(_ro_uri(path), uri=True, timeout=15) if read_only else
                sqlite3.connect(path, timeout=15))
    except sqlite3.Error as exc:
        return str(exc)
    try:
        if header_only:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                return str(exc)
            return "ok"
        return quick_check(conn, full)
    finally:
        conn.close()


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def copy_database(src: str | os.PathLike, dest: str | os.PathLike, immutable: bool = False) -> Path:
    """A consistent, checked, self-contained copy of ``src`` at ``dest`` (created atomically).

    ``dest`` must not be a database anyone has open (it is replaced by rename). ``immutable``
    reads a source that never changes (the shipped example, maybe on a read-only disk).
    """
    src, dest = Path(src), Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    for side in ("", "-journal", *SIDECARS):
        Path(str(tmp) + side).unlink(missing_ok=True)
    uri = _ro_uri(src) + ("&immutable=1" if immutable else "")
    try:
        source = sqlite3.connect(uri, uri=True)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)  # all pages in one step: one snapshot, even while others write
            target.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            problem = quick_check(target)
        finally:
            target.close()
            source.close()
        if problem != "ok":
            raise DatabaseError(src, f"the copy failed its integrity check ({problem})")
        _fsync_path(tmp)
        os.replace(tmp, dest)
        _fsync_path(dest.parent)
    except sqlite3.Error as exc:
        raise DatabaseError(src, f"cannot copy the database: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def list_backups(db_path: str | os.PathLike) -> list[Path]:
    """The project's backups, newest first (names start with a sortable time stamp)."""
    folder = backup_dir(db_path)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.sqlite") if p.is_file()), key=lambda p: p.name, reverse=True)


def make_backup(db_path: str | os.PathLike, reason: str, keep: int = KEEP) -> Path:
    """Back the project up now (online), then drop all but the newest ``keep`` backups."""
    db_path = Path(db_path)
    folder = backup_dir(db_path)
    folder.mkdir(exist_ok=True)
    dest = folder / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{reason}.sqlite"  # sorts by time, to the microsecond
    while dest.exists():
        dest = folder / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{reason}.sqlite"
    copy_database(db_path, dest)
    for old in list_backups(db_path)[max(1, keep):]:
        old.unlink(missing_ok=True)
    return dest


def backup_due(db_path: str | os.PathLike, every_s: float = DAILY_S) -> bool:
    """True when the newest backup is older than ``every_s`` (or there is none)."""
    newest = list_backups(db_path)
    return not newest or time.time() - newest[0].stat().st_mtime >= every_s


def latest_good_backup(db_path: str | os.PathLike) -> Path | None:
    """The newest backup that passes the integrity check now."""
    for b in list_backups(db_path):
        if check_file(b, read_only=True) == "ok":
            return b
    return None


def move_aside(db_path: str | os.PathLike, label: str) -> Path | None:
    """Rename the file and its -wal/-shm together to ``<name>.<label>-<time>`` (kept, never deleted)."""
    db_path = Path(db_path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.{label}-{stamp}")
    moved = None
    for side in ("", *SIDECARS):
        p = Path(str(db_path) + side)
        if p.exists():
            os.replace(p, Path(str(aside) + side))
            moved = aside
    return moved


def orphaned_sidecars(db_path: str | os.PathLike) -> list[Path]:
    """-wal/-shm files whose database is gone: SQLite would replay them onto any new file there."""
    db_path = Path(db_path)
    if db_path.exists():
        return []
    return [p for p in (Path(str(db_path) + s) for s in SIDECARS) if p.exists()]


def restore_backup(db_path: str | os.PathLike, backup: str | os.PathLike) -> Path | None:
    """Put ``backup`` in place of the project; the old file (damaged) is moved aside and returned.

    The caller holds the project's instance lock, so no app instance has the file open.
    """
    db_path, backup = Path(db_path), Path(backup)
    problem = check_file(backup, read_only=True)
    if problem != "ok":
        raise DatabaseError(backup, f"the backup itself fails its integrity check ({problem})")
    staged = db_path.with_name(f".{db_path.name}.restore")
    copy_database(backup, staged)
    aside = move_aside(db_path, "damaged")
    os.replace(staged, db_path)
    _fsync_path(db_path.parent)
    return aside
