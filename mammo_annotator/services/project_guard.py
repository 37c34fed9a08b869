"""What keeps a project file whole (issue 12): one app instance per file, no file replaced
while open, a backup before each migration and once a day while in use.

The corruption seen in the field came from SQLite's -wal/-shm files being paired with another
database: a project file replaced (the example copied again) while an instance had it open, or
created next to a stale -wal. So the example is copied only when absent, under the instance
lock, with SQLite's backup API into a temp file that is linked into place (never renamed over
a file); orphaned -wal/-shm are moved aside first. Other processes (CLI readers and writers)
need no lock: SQLite's own locking keeps concurrent transactions safe on one unchanged file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..store import backup as backups
from ..store import restore
from ..store.engine import DatabaseError
from ..store.lock import ProjectLock, ProjectLocked, held_by_this_process, read_holder
from ..store.server import is_url, sqlite_path_of, unwritable_tables

if TYPE_CHECKING:
    from .project import Project

log = logging.getLogger(__name__)

BACKUP_CHECK_S = 600.0  # how often an instance looks at the clock for its daily backup


class BackupSchedule:
    """Once a day while in use: ``poke`` is cheap; a due backup runs in its own thread."""

    def __init__(self, path: Path, every_s: float = backups.DAILY_S, keep: int = backups.KEEP):
        self.path, self.every_s, self.keep = path, every_s, keep
        self._next_check = 0.0
        self._thread: threading.Thread | None = None
        self.last: Path | None = None
        self.error: str | None = None

    def poke(self) -> None:
        now = time.monotonic()
        if now < self._next_check or (self._thread is not None and self._thread.is_alive()):
            return
        self._next_check = now + BACKUP_CHECK_S
        if backups.backup_due(self.path, self.every_s):
            self._thread = threading.Thread(target=self._run, name="project-backup", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.last = backups.make_backup(self.path, "daily", keep=self.keep)
        except Exception as exc:  # a failed backup never stops the work; it is logged and kept for the UI
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("daily backup of %s failed: %s", self.path, self.error)

    def wait(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def open_guards(project: "Project", instance: bool, create: bool) -> tuple[ProjectLock | None, BackupSchedule | None]:
    """The instance lock (raises ProjectLocked when another live instance holds it) and its backups."""
    if not instance or project.path.is_dir() or not (project.path.exists() or create and project.path.parent.is_dir()):
        return None, None  # nothing to lock: open_database says why it cannot open
    try:
        lock = ProjectLock(project.path).acquire()
    except OSError as exc:
        raise DatabaseError(project.path, f"cannot create its lock file ({exc.strerror})") from exc
    if lock.stale is not None:
        log.warning("%s: took over a lock left by %s, which is no longer running", project.path, lock.stale.describe())
    return lock, BackupSchedule(project.path)


def needs_check(project: "Project") -> bool:
    """The full quick_check on open, unless this process holds the project (checked when it took it):
    a retrain's own project, opened for every job, then costs nothing on a large file."""
    return project.is_server or not held_by_this_process(project.path) or project.lock is not None


def close_guards(project: "Project") -> None:
    sched, lock = getattr(project, "_backups", None), getattr(project, "lock", None)
    if sched is not None:
        sched.wait()
    if lock is not None:
        lock.release()


@contextlib.contextmanager
def migration_guard(project: "Project") -> Iterator[Callable[[str | None], None] | None]:
    """A callback for ``open_database``: migrate only while no other instance has the file open."""
    if project.is_server or project.read_only:
        yield None
        return
    taken: list[ProjectLock] = []

    def before_migrate(_current: str | None) -> None:
        if project.lock is not None or held_by_this_process(project.path):
            return
        try:
            taken.append(ProjectLock(project.path).acquire())
        except ProjectLocked as exc:
            raise DatabaseError(project.path, f"needs a schema upgrade, but {str(exc).split(': ', 1)[1]}; "
                                              "close that instance first") from exc

    try:
        yield before_migrate
    finally:
        for lock in taken:
            lock.release()


def open_instance(path: str | os.PathLike, create: bool = False) -> tuple["Project", str | None]:
    """The app's open: this instance's own project, or, when another live instance holds it,
    the project read-only with a message that says so (reading and CLI readers keep working)."""
    from .project import Project

    if not create:  # File > Open never makes a project: File > New does
        refuse_empty_file(path, "File > New project makes one")
    reason = why_not_writable(path)
    if reason is not None:
        return _open_unwritable(path, reason)
    try:
        project = Project(path, create=create, instance=True)
    except ProjectLocked as exc:
        project = Project(path, read_only=True)
        return project, f"{exc}. Opened read-only here: nothing you do is saved; close the other instance to edit."
    return project, (_read_only_role(project) if project.is_server else None)


def _read_only_role(project: "Project") -> str | None:
    """A shared project whose database role may only read: read-only, saying so (else None)."""
    try:
        denied = unwritable_tables(project.engine)
    except Exception as exc:  # noqa: BLE001 - the check is advisory: a save still says what failed
        log.warning("%s: write permissions not checked: %s", project.location, exc)
        return None
    if not denied:
        return None
    listed = ", ".join(denied[:3]) + (", ..." if len(denied) > 3 else "")
    project.read_only = True
    project.read_only_why = f"your database role may only read it (no write permission on {listed})"
    return f"{project.location}: {project.read_only_why}. Opened read-only here: nothing you do is saved."


def _open_unwritable(path: str | os.PathLike, reason: str) -> tuple["Project", str]:
    """Read-only, saying why; a file SQLite cannot even read there (a WAL project on a read-only
    disk, without its -shm) is refused with both reasons."""
    from .project import Project

    try:
        project = Project(path, read_only=True)
    except DatabaseError as exc:
        if isinstance(exc, backups.DamagedDatabase):
            raise
        raise DatabaseError(exc.path, f"{reason}; reading it read-only failed too: {exc.reason}") from exc
    project.read_only_why = reason
    note = f"{project.location}: {reason}. Opened read-only here: nothing you do is saved."
    if project.snapshot:  # a WAL project without its -shm: complete, but read as it was when opened
        note += (" It is read as it was when opened: without its -shm file, changes another program makes "
                 "meanwhile are not seen until it is reopened.")
    return project, note


def _existing_file(path: str | os.PathLike) -> Path | None:
    """The SQLite file behind ``path`` when one is there (None: a server project, or nothing)."""
    target = str(path)
    file = sqlite_path_of(target) if is_url(target) else target
    return Path(file) if file is not None and Path(file).is_file() else None


def refuse_empty_file(path: str | os.PathLike, how_to_make_one: str) -> None:
    """An empty file is left as it is by every open that was not asked to create a project: SQLite
    would silently make a project of it (a file touched by mistake, a failed copy)."""
    if is_empty_file(path):
        raise DatabaseError(path, f"is empty, not a project yet; it was left as it is ({how_to_make_one})")


def is_empty_file(path: str | os.PathLike) -> bool:
    """A zero-byte file with no -wal content: opening it for writing would make it a project."""
    file = _existing_file(path)
    if file is None or file.stat().st_size:
        return False
    wal = Path(f"{file}-wal")
    return not wal.is_file() or wal.stat().st_size == 0


def why_not_writable(path: str | os.PathLike) -> str | None:
    """Why an existing project file cannot be written here (None: it can, or it is a server's):
    opened for writing, every edit would fail only when saved."""
    file = _existing_file(path)
    if file is None:
        return None  # a server project, or nothing there yet: open_database says why
    if not os.access(file, os.W_OK):
        return "the file is not writable (read-only permissions or disk)"
    if not os.access(Path(file).resolve().parent, os.W_OK):
        return "its folder is not writable, and SQLite must create the -wal and -shm files there"
    return None


def holder_text(path: str | os.PathLike) -> str | None:
    holder = read_holder(path)
    return holder.describe() if holder else None


def copy_example_once(src: Path, dest: Path, overwrite: bool = False, wait_s: float = 30.0) -> Path:
    """Create ``dest`` from the example ``src`` unless it exists (or, with ``overwrite``, replace it
    when no other instance holds it: the old file and its -wal/-shm are moved aside, kept)."""
    if dest.exists() and not overwrite:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = ProjectLock(dest)
    deadline = time.monotonic() + wait_s
    while True:  # another instance may be making the copy right now: wait for it, never race it
        try:
            lock.acquire()
            break
        except ProjectLocked:
            if dest.exists() and not overwrite:
                return dest
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    try:
        if dest.exists():
            if not overwrite:
                return dest
            restore.move_aside(dest, "replaced")
        if restore.orphaned_sidecars(dest):
            aside = restore.move_aside(dest, "orphan")
            log.warning("%s: moved a -wal/-shm left without their database aside (%s*)", dest, aside)
        staged = dest.with_name(f".{dest.name}.{os.getpid()}.example")
        try:
            backups.copy_database(src, staged, immutable=True)
            try:
                os.link(staged, dest)  # atomic and never over an existing file
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not dest.exists():
                    os.replace(staged, dest)
        finally:
            staged.unlink(missing_ok=True)
    finally:
        lock.release()
    return dest


def require_project_file(path: str | os.PathLike) -> Path:
    """The path of an existing project file, or a DatabaseError that says what is there instead."""
    path = Path(path)
    if path.is_dir():
        raise DatabaseError(path, "is a folder, not a project database file")
    if not path.is_file():
        raise DatabaseError(path, "no such project database")
    return path


def restore_latest(path: str | os.PathLike, backup: str | os.PathLike | None = None,
                   in_use_wait_s: float = restore.IN_USE_WAIT_S) -> tuple[Path, Path | None]:
    """Put a backup (default: the newest good one) in place of the project; returns it and where
    the replaced file went (moved aside, never deleted). Refused while an app instance holds it,
    or another program holds a SQLite lock on it."""
    path = Path(path)
    lock = _restore_lock(path)
    try:
        chosen = Path(backup) if backup else backups.latest_good_backup(path)
        if chosen is None:
            raise DatabaseError(path, "has no good backup to restore")
        aside = restore.restore_backup(path, chosen, in_use_wait_s=in_use_wait_s)
    finally:
        lock.release()
    return chosen, aside


def _restore_lock(path: Path) -> ProjectLock:
    """The instance lock for a restore, or a DatabaseError naming what is wrong with the path."""
    if path.is_dir():
        raise DatabaseError(path, "is a folder, not a project database file")
    if not path.parent.is_dir():
        raise DatabaseError(path, f"no such folder: {path.parent}")
    try:
        return ProjectLock(path).acquire()
    except OSError as exc:
        raise DatabaseError(path, f"cannot create its lock file ({exc.strerror or exc})") from exc


def backup_now(path: str | os.PathLike, reason: str = "manual", timeout: float | None = None) -> Path:
    """An online backup now (works while the app and other programs use the project)."""
    return backups.make_backup(require_project_file(path), reason, timeout=timeout)


def open_guarded(path: str | os.PathLike, create: bool = False,
                 ask_restore: Callable[[backups.DamagedDatabase], bool] | None = None) -> tuple["Project", str | None]:
    """``open_instance``, and for a damaged file the offer of its last good backup: when
    ``ask_restore(error)`` says yes, the backup replaces it (the damaged file is kept aside)."""
    try:
        return open_instance(path, create=create)
    except backups.DamagedDatabase as exc:
        if exc.backup is None or ask_restore is None or not ask_restore(exc):
            raise
        chosen, aside = restore_latest(path, exc.backup)
    project, note = open_instance(path)
    restored = f"Restored the backup {chosen.name}; the damaged file is kept as {aside}."
    return project, f"{restored} {note}" if note else restored
