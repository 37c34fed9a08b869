"""Restoring a backup, and moving a damaged project file aside.

Nothing here replaces a file that another process has open: a restore first checks that the
file carries a Mammo Annotator schema, then that no other connection holds a SQLite lock on the
project (``ensure_not_in_use``), and moves the old file with its -wal/-shm/-journal aside
together, under a name never used before, and puts a fresh copy in its place.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import time
from pathlib import Path

from .backup import LOCK_WAIT_S, SIDECARS, _fsync_path, _is_busy, _unlink_with_sidecars, copy_database, quick_check
from .engine import DatabaseError, sqlite_ro_uri

IN_USE_WAIT_S = 2.0  # how long a restore waits for another connection's transaction to end


class DatabaseInUse(DatabaseError):
    """Another connection holds a SQLite lock on the file: replacing it now would lose its writes."""


def _move_no_clobber(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, never over an existing file (FileExistsError instead)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(dst):
            raise FileExistsError(17, "File exists", str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _aside_free(aside: Path) -> bool:
    return not any(os.path.lexists(str(aside) + side) for side in ("", *SIDECARS))


def move_aside(db_path: str | os.PathLike, label: str) -> Path | None:
    """Rename the file and its -wal/-shm/-journal together to ``<name>.<label>-<time>[-N]``.

    Kept, never deleted, and never over an earlier one: the first free name is taken, by a link
    that fails when another process took the same name meanwhile.
    """
    db_path = Path(db_path)
    present = [side for side in ("", *SIDECARS) if os.path.lexists(str(db_path) + side)]
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        aside = db_path.with_name(f"{db_path.name}.{label}-{stamp}" + (f"-{n}" if n > 1 else ""))
        if not _aside_free(aside):
            continue
        try:
            _move_no_clobber(Path(str(db_path) + present[0]), Path(str(aside) + present[0]))
        except FileExistsError:
            continue  # taken by another process between the check and the link
        for side in present[1:]:
            _move_no_clobber(Path(str(db_path) + side), Path(str(aside) + side))
        return aside
    return None  # pragma: no cover - itertools.count never ends


def orphaned_sidecars(db_path: str | os.PathLike) -> list[Path]:
    """-wal/-shm/-journal files whose database is gone: SQLite would replay them onto any new file there."""
    db_path = Path(db_path)
    if db_path.exists():
        return []
    return [p for p in (Path(str(db_path) + s) for s in SIDECARS) if p.exists()]


def ensure_not_in_use(db_path: str | os.PathLike, wait_s: float = IN_USE_WAIT_S) -> None:
    """Raise DatabaseInUse while another connection holds a SQLite lock on ``db_path``.

    Why: a connection keeps writing into a file renamed under it (its commits then go to the moved
    file and are lost to the project), and a live writer's -journal would be rolled into whatever
    file takes the name. The check is a real lock: an EXCLUSIVE lock in exclusive locking mode,
    which fails while any other connection has a transaction open, and in WAL mode while any other
    connection merely has the file open (WAL connections keep a shared lock for their lifetime).
    Limit: a rollback-journal connection between transactions holds no lock and cannot be seen;
    the app's own instances are kept out by the project's ``.lock`` file. Like any open, the check
    applies a WAL or hot journal that a crashed process left.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        return
    try:
        conn = sqlite3.connect(db_path, timeout=wait_s, isolation_level=None)
    except sqlite3.Error:
        return  # SQLite cannot open it, so no SQLite connection shares it
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")  # rollback mode: the file lock is taken here
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # WAL mode: taken here
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise DatabaseInUse(db_path, "is in use by another program (it holds a SQLite lock on it); close every "
                                         "program that has it open (the app, an import, an sqlite3 shell) and try "
                                         "again; nothing was changed") from exc
        # anything else: damaged, which is why it is being replaced
    finally:
        conn.close()


def require_project_copy(path: str | os.PathLike) -> None:
    """Refuse (DatabaseError naming ``path``) anything but a whole Mammo Annotator project file.

    Why: a restore moves the project aside; another application's database, an empty or a
    damaged file would take its place.
    """
    from .revisions import head_revision, known_revision

    path = Path(path)
    if path.is_dir():
        raise DatabaseError(path, "is a folder, not a backup file")
    if not path.is_file():
        raise DatabaseError(path, "no such backup file")
    if path.stat().st_size == 0:
        raise DatabaseError(path, "is an empty file, not a Mammo Annotator project; nothing was restored")
    rev, problem = _revision_and_check(path)
    if rev is None:
        raise DatabaseError(path, f"is not a Mammo Annotator project ({problem}); nothing was restored")
    if rev != head_revision() and not known_revision(rev):
        raise DatabaseError(path, f"was written by a newer Mammo Annotator (schema {rev}); nothing was restored")
    if problem != "ok":
        raise DatabaseError(path, f"the backup itself fails its integrity check ({problem}); nothing was restored")


def _revision_and_check(path: Path) -> tuple[str | None, str]:
    """(schema revision, quick_check) of a file; (None, why) when it records no single revision."""
    try:
        with contextlib.closing(sqlite3.connect(sqlite_ro_uri(path), uri=True, timeout=LOCK_WAIT_S)) as conn:
            try:
                revs = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()]
            except sqlite3.DatabaseError as exc:
                return None, "no schema revision" if "no such table" in str(exc) else str(exc)
            if len(revs) != 1:
                return None, f"{len(revs)} schema revisions recorded"
            return str(revs[0]), quick_check(conn)
    except sqlite3.Error as exc:
        return None, str(exc)


def restore_backup(db_path: str | os.PathLike, backup: str | os.PathLike,
                   in_use_wait_s: float = IN_USE_WAIT_S) -> Path | None:
    """Put ``backup`` in place of the project; the old file (damaged) is moved aside and returned.

    The caller holds the project's instance lock, so no app instance has the file open; other
    programs holding a SQLite lock make it refuse (``ensure_not_in_use``), changing nothing.
    """
    db_path, backup = Path(db_path), Path(backup)
    require_project_copy(backup)
    if db_path.is_dir():
        raise DatabaseError(db_path, "is a folder, not a project database file")
    staged = db_path.with_name(f".{db_path.name}.restore")
    copy_database(backup, staged)
    try:
        ensure_not_in_use(db_path, in_use_wait_s)
        aside = _put_in_place(db_path, staged)
    finally:
        _unlink_with_sidecars(staged)
    return aside


def _put_in_place(db_path: Path, staged: Path) -> Path | None:
    try:
        aside = move_aside(db_path, "damaged")
    except OSError as exc:
        raise DatabaseError(db_path, f"cannot move it aside ({exc.strerror or exc}); nothing was restored") from exc
    try:
        _move_no_clobber(staged, db_path)
    except OSError as exc:
        kept = f"; the old file is kept as {aside}" if aside else ""
        raise DatabaseError(db_path, f"cannot put the backup in place ({exc.strerror or exc}){kept}") from exc
    _fsync_path(db_path.parent)
    return aside
