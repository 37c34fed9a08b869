"""One app instance per project file: an OS lock on ``<project>.lock`` that names its holder.

Why: a second app instance on the same file runs its own training queue, and any step that
creates or replaces the file (copying the example, restoring a backup, migrating the schema)
must never happen under another process that has the file open; SQLite's WAL and -shm files
would then be paired with another database (the corruption seen in issue 12).

The lock is ``flock`` (``msvcrt.locking`` on Windows) on a file that stays open for the life
of the holder, so the kernel drops it when the holder dies, even by SIGKILL: a lock left by a
dead process is recognised as stale, reported and taken over. The file's text names the holder
(pid, host, program, time) for the message the next instance shows. One process holds one lock
per project and shares it among its own Project objects (the GUI and its training thread).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import MammoError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(db_path: str | os.PathLike) -> Path:
    p = Path(db_path)
    return p.with_name(p.name + ".lock")


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    program: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since)) if self.since else "an unknown time"
        return f"{self.program} (pid {self.pid} on {self.host}, since {when})"


class ProjectLocked(MammoError):
    """Another live app instance holds the project; names the file and the holder."""

    def __init__(self, path: object, holder: Holder | None):
        self.path = str(path)
        self.holder = holder
        who = holder.describe() if holder else "another program"
        super().__init__(f"{self.path}: is open in another Mammo Annotator instance: {who}")


def read_holder(db_path: str | os.PathLike) -> Holder | None:
    """Who the lock file says holds (or last held) the project; None when unknown."""
    try:
        d = json.loads(lock_path(db_path).read_text(encoding="utf-8") or "{}")
        return Holder(int(d["pid"]), str(d["host"]), str(d.get("program", "?")), float(d.get("since", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover
            os.lseek(fd, 0, 0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass


class _Held:
    def __init__(self, fd: int, path: Path, stale: Holder | None):
        self.fd, self.path, self.stale, self.count = fd, path, stale, 0


_held: dict[str, _Held] = {}
_guard = threading.Lock()


class ProjectLock:
    """The instance lock of one project file; ``acquire`` raises ProjectLocked when taken.

    ``stale`` is the holder a dead process left behind when this lock took it over.
    """

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = Path(db_path)
        self.key = str(self.db_path.resolve())
        self.stale: Holder | None = None
        self._acquired = False

    def acquire(self, timeout: float = 0.0) -> "ProjectLock":
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._acquire_once()
                return self
            except ProjectLocked:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _acquire_once(self) -> None:
        if self._acquired:
            return
        with _guard:
            held = _held.get(self.key)
            if held is None:
                path = lock_path(self.db_path)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                if not _try_lock(fd):
                    os.close(fd)
                    raise ProjectLocked(self.db_path, read_holder(self.db_path))
                previous = read_holder(self.db_path)
                me = {"pid": os.getpid(), "host": socket.gethostname(), "program": _program(), "since": time.time()}
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, json.dumps(me).encode())
                os.fsync(fd)
                stale = previous if previous is not None and previous.pid != os.getpid() else None
                held = _held[self.key] = _Held(fd, path, stale)
            held.count += 1
            self.stale = held.stale
            self._acquired = True

    def release(self) -> None:
        if not self._acquired:
            return
        self._acquired = False
        with _guard:
            held = _held.get(self.key)
            if held is None:
                return
            held.count -= 1
            if held.count > 0:
                return
            del _held[self.key]
            try:
                os.ftruncate(held.fd, 0)  # no holder named while nobody holds it
            except OSError:
                pass
            _unlock(held.fd)
            os.close(held.fd)

    @property
    def held(self) -> bool:
        return self._acquired

    def __enter__(self) -> "ProjectLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_by_this_process(db_path: str | os.PathLike) -> bool:
    with _guard:
        return str(Path(db_path).resolve()) in _held


def _program() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:2]]
    return " ".join(a for a in argv if a)[:80] or "python"
