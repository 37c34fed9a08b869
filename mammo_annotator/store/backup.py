"""Rolling backups of a project file and its integrity check (restoring one: ``store.restore``).

Backups use SQLite's online backup API (``sqlite3.Connection.backup``): a consistent snapshot
of a live database while other connections keep writing, unlike a file copy, which can catch
a half-checkpointed file or miss the WAL. Each backup is written to a temp file, checked with
``PRAGMA quick_check``, made self-contained (rollback journal, no -wal) and renamed into
``<project>.backups/``; the newest ``KEEP`` of each kind (manual, daily, before a migration) are
kept, so automatic backups never push a manual one out. A backup waits at most ``LOCK_WAIT_S``
for a writer that locks the file, and leaves no temp file behind when it gives up.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from .engine import BUSY_TIMEOUT_MS, DatabaseError, sqlite_ro_uri

KEEP = 8  # per kind of backup
DAILY_S = 24 * 3600
SIDECARS = ("-wal", "-shm", "-journal")  # every file SQLite pairs with a database by its name
LOCK_WAIT_S = BUSY_TIMEOUT_MS / 1000  # as long as any other command waits for a lock
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
MIN_PAGE = 512  # SQLite's smallest page: a shorter file that is not empty holds no database
_TEMP = re.compile(r"^\..+\.(\d+)\.tmp(?:-wal|-shm|-journal)?$")


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


def _is_busy(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def quick_check(conn: sqlite3.Connection, full: bool = False) -> str:
    """'ok', or the first problems SQLite reports (a driver error counts as one)."""
    try:
        rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    text = "; ".join(str(r[0]) for r in rows)
    return "ok" if text == "ok" else text.replace("\n", " ")[:300]


def check_file(path: str | os.PathLike, full: bool = False, read_only: bool = False, header_only: bool = False,
               immutable: bool = False) -> str:
    """Integrity of a database file as SQLite sees it (its WAL included): 'ok' or the problem.

    ``header_only``: just that SQLite can read it and its schema (cheap, for a file this process
    has open and checked already). ``immutable`` (with ``read_only``): ``engine.read_only_snapshot``.
    """
    path = Path(path)
    short = too_short(path)
    if short:
        return short
    try:
        conn = (sqlite3.connect(sqlite_ro_uri(path, immutable), uri=True, timeout=15) if read_only else
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


def too_short(path: Path) -> str | None:
    """A file of 1 to 511 bytes: SQLite reads one under 10 bytes as an empty database (which an
    open for writing then turns into a new project over it), so it is named for what it is."""
    try:
        size = path.stat().st_size  # never open(): see engine.open_database
    except OSError:
        return None
    if 0 < size < MIN_PAGE:
        return f"file is not a database: it is only {size} bytes long, too short to hold one (truncated?)"
    return None


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink_with_sidecars(path: Path) -> None:
    for side in ("", *SIDECARS):
        with contextlib.suppress(OSError):
            Path(str(path) + side).unlink(missing_ok=True)


def _backup_bounded(source: sqlite3.Connection, target: sqlite3.Connection, wait_s: float, shown: Path) -> None:
    """``source.backup`` retries a locked source for ever: give up after ``wait_s`` instead."""
    deadline = time.monotonic() + wait_s

    def progress(status: int, _remaining: int, _total: int) -> None:
        if status in _BUSY and time.monotonic() >= deadline:
            raise DatabaseError(shown, f"the database is locked by another program (waited {wait_s:g} s); "
                                       "try again when it has finished; no backup was made")

    source.backup(target, progress=progress, sleep=0.05)  # all pages in one step: one snapshot


def copy_database(src: str | os.PathLike, dest: str | os.PathLike, immutable: bool = False,
                  timeout: float | None = None) -> Path:
    """A consistent, checked, self-contained copy of ``src`` at ``dest`` (created atomically).

    ``dest`` must not be a database anyone has open (it is replaced by rename). ``immutable``
    reads a source that never changes (the shipped example, maybe on a read-only disk).
    ``timeout``: seconds to wait for a writer's lock (default ``LOCK_WAIT_S``); then a clear error,
    and the temp file is removed whatever fails.
    """
    src, dest = Path(src), Path(dest)
    wait_s = LOCK_WAIT_S if timeout is None else timeout
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    _unlink_with_sidecars(tmp)
    uri = sqlite_ro_uri(src, immutable)
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=wait_s)) as source, \
                contextlib.closing(sqlite3.connect(tmp)) as target:
            _backup_bounded(source, target, wait_s, src)
            target.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            problem = quick_check(target)
        if problem != "ok":
            raise DatabaseError(src, f"the copy failed its integrity check ({problem})")
        _fsync_path(tmp)
        os.replace(tmp, dest)
        _fsync_path(dest.parent)
    except sqlite3.Error as exc:
        raise DatabaseError(src, f"cannot copy the database: {exc}") from exc
    except OSError as exc:
        raise DatabaseError(dest, f"cannot write the copy ({exc.strerror or exc})") from exc
    finally:
        _unlink_with_sidecars(tmp)
    return dest


def list_backups(db_path: str | os.PathLike) -> list[Path]:
    """The project's backups, newest first (names start with a sortable time stamp)."""
    folder = backup_dir(db_path)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.sqlite") if p.is_file()), key=lambda p: p.name, reverse=True)


def backup_kind(backup: Path) -> str:
    """'manual', 'daily', 'before' (a migration) or another reason: each kind is rotated on its own."""
    stem = backup.name.removesuffix(".sqlite")
    parts = stem.split("-", 3)  # date, time, microseconds, reason
    reason = parts[3] if len(parts) == 4 else stem
    return "before" if reason.startswith("before-") else reason


def _backup_folder(db_path: Path) -> Path:
    """``<project>.backups``, created when missing; a clear error when something else is in its place."""
    folder = backup_dir(db_path)
    if folder.exists() and not folder.is_dir():
        raise DatabaseError(folder, "is a file, not the project's backups folder; move it away and try again")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise DatabaseError(folder, f"cannot create the backups folder ({exc.strerror or exc})") from exc
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Remove temp files that a killed backup left (their process is gone); returns them."""
    removed = []
    for p in folder.glob(".*.tmp*"):
        m = _TEMP.match(p.name)
        if m and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:  # backups only: no SQLite connection has them open
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _earlier_identical(made: Path, db_path: Path, reason: str) -> Path | None:
    """The newest other backup for the same reason when ``made`` is byte for byte the same."""
    same = [b for b in list_backups(db_path) if b != made and b.name.endswith(f"-{reason}.sqlite")]
    return same[0] if same and _same_content(made, same[0]) else None


def make_backup(db_path: str | os.PathLike, reason: str, keep: int = KEEP, timeout: float | None = None) -> Path:
    """Back the project up now (online), then drop all but the newest ``keep`` of its kind.

    A ``before-<rev>`` backup identical to the last one for that revision is not kept twice (a
    migration refused at every open would otherwise rotate the real backups away); the earlier
    one is returned. ``timeout``: see ``copy_database``.
    """
    db_path = Path(db_path)
    folder = _backup_folder(db_path)
    sweep_stale_temps(folder)
    dest = folder / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{reason}.sqlite"  # sorts by time, to the microsecond
    while dest.exists():
        dest = folder / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{reason}.sqlite"
    copy_database(db_path, dest, timeout=timeout)
    if reason.startswith("before-"):
        earlier = _earlier_identical(dest, db_path, reason)
        if earlier is not None:
            dest.unlink(missing_ok=True)
            return earlier
    kind = backup_kind(dest)
    for old in [b for b in list_backups(db_path) if backup_kind(b) == kind][max(1, keep):]:
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
