"""A project: one database file, its settings, a session per unit of work and an event hub."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.orm import Session

from ..core.errors import MammoError
from ..core.iom import DEFAULT_ALPHA
from ..core.types import GridSpec
from ..store import engine as store_engine
from ..store import models as model_store
from ..store.database_errors import DatabaseError, NeedsUpgrade, explain_operational_error
from ..store.engine import open_database
from ..store.server import display_url, is_url, server_side_folder, sqlite_path_of
from . import project_guard as guard
from .events import Events

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DB_NAME = "data.sqlite.example"
# The GUI thread's writes give up after this long when another program holds the write lock:
# a frozen window is worse than "locked, try again" (background jobs and the CLI keep 15 s).
INTERACTIVE_BUSY_TIMEOUT_MS = 2000
GONE_REASON = "was deleted or replaced on disk while open; nothing was saved; reopen it"


class Project:
    """Owns the engine; every use case opens a short session with ``project.session()``.

    Sessions are per thread and short-lived, so the GUI can write while a trainer reads.
    """

    def __init__(self, path: str | os.PathLike, create: bool = False, read_only: bool = False, instance: bool = False):
        """``instance``: an app session, the only one on this file (``ProjectLocked`` otherwise);
        it keeps daily backups. ``read_only``: never writes (readers while another instance runs).
        """
        self.target = str(path)  # what reopens it (a file path, or a URL without password)
        self.is_server = is_url(self.target) and sqlite_path_of(self.target) is None
        # ``path``: the file, or for a server project a local folder for side files (caches)
        self.path = server_side_folder(self.target) if self.is_server else Path(sqlite_path_of(self.target) or path)
        self.location = display_url(self.target) if self.is_server else str(self.path)  # shown to users
        self.read_only = read_only
        self.read_only_why = "another instance holds it"  # what a refused write says (open_instance may change it)
        self.lock, self._backups = guard.open_guards(self, instance and not read_only and not self.is_server, create)
        try:
            with guard.migration_guard(self) as before_migrate:
                self.engine, self._sessionmaker = open_database(self.target if self.is_server else self.path, create=create,
                                                                read_only=read_only, before_migrate=before_migrate,
                                                                check=guard.needs_check(self))
        except BaseException:
            guard.close_guards(self)
            raise
        # a WAL project read where its -shm cannot be made: complete, but a snapshot (engine.SNAPSHOT_WHY)
        self.snapshot = not self.is_server and store_engine.is_snapshot(self.engine)
        if self.snapshot:
            self.read_only_why = store_engine.SNAPSHOT_WHY
        self.events = Events()
        self._file_id = _file_identity(self.path) if not self.is_server else None
        self._thread_busy = threading.local()
        if not self.is_server:
            event.listen(self.engine, "checkout", self._apply_busy_timeout)
        if self._backups is not None:
            self._backups.poke()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error (nothing half-written)."""
        session = self._sessionmaker()
        try:
            yield session
            self._refuse_write_to_lost_file(session)
            session.commit()
        except SQLAlchemyDatabaseError as exc:  # locked, read-only, I/O error, a damaged file
            session.rollback()
            if self.read_only and any(w in str(exc.orig).lower() for w in ("readonly", "permission denied")):
                raise DatabaseError(self.location, f"is open read-only here: {self.read_only_why}; "
                                                   "nothing is saved") from exc
            raise explain_operational_error(self.location, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if self._backups is not None:
            self._backups.poke()  # at most a cheap clock check; a due backup runs in its own thread

    # the file under a SQLite project ------------------------------------------------------
    def _refuse_write_to_lost_file(self, session: Session) -> None:
        """A write to a file deleted or replaced on disk would go to an unlinked inode and vanish
        at close: refused (the caller rolls back). One stat, and only for sessions that wrote."""
        if self._file_id is None or not _wrote(session):
            return
        if _file_identity(self.path) != self._file_id:
            raise DatabaseError(self.location, GONE_REASON)

    def set_thread_busy_timeout(self, ms: int | None) -> None:
        """How long this thread's statements wait for another program's write lock (None: the
        default, 15 s). The GUI thread sets a short one so the window never freezes for long."""
        self._thread_busy.ms = ms

    def _apply_busy_timeout(self, dbapi_conn, record, _proxy) -> None:
        """On checkout: the calling thread's busy timeout (connections never change threads;
        the pragma runs only when the connection's current value differs)."""
        want = getattr(self._thread_busy, "ms", None)
        if record.info.get("busy_ms") == want:
            return
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={int(want if want is not None else store_engine.BUSY_TIMEOUT_MS)}")
        finally:
            cur.close()
        record.info["busy_ms"] = want

    # settings -------------------------------------------------------------------------
    def grid_spec(self) -> GridSpec:
        with self.session() as s:
            d = model_store.get_setting(s, "grid", None)
        return GridSpec(**d) if d else GridSpec()

    def set_grid_spec(self, spec: GridSpec) -> None:
        problem = spec.problem()
        if problem:  # stored, a bad grid would break every later import of the project
            raise MammoError(f"{self.location}: region grid not set: {problem}")
        with self.session() as s:
            model_store.set_setting(s, "grid", spec.__dict__)

    def alpha(self) -> float:
        with self.session() as s:
            return float(model_store.get_setting(s, "alpha", DEFAULT_ALPHA))

    def setting(self, key: str, default=None):
        with self.session() as s:
            return model_store.get_setting(s, key, default)

    def set_setting(self, key: str, value) -> None:
        with self.session() as s:
            model_store.set_setting(s, key, value)

    def close(self) -> None:
        self.engine.dispose()
        guard.close_guards(self)

    def __repr__(self) -> str:
        return f"Project({self.location!r})"


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` now; None when nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _wrote(session: Session) -> bool:
    """Whether the session changed anything: pending ORM changes, or an open SQLite write
    transaction (pysqlite begins one only before a write statement)."""
    if session.new or session.dirty or session.deleted:
        return True
    if session.get_transaction() is None:
        return False
    return bool(getattr(session.connection().connection.driver_connection, "in_transaction", False))


def open_project(path: str | os.PathLike, create: bool = False, read_only: bool = False) -> Project:
    """``read_only``: for commands that only read; they never write, nor wait for another instance
    (a project of an older schema is migrated first, unless another instance holds it).

    A file that cannot be written here (a read-only disk or folder) opens read-only, with a
    warning that says why; ``create`` (a command that writes, such as import) is refused at once.
    """
    upgrade: NeedsUpgrade | None = None
    if read_only:
        try:
            return _warn_read_only(Project(path, read_only=True), None)
        except NeedsUpgrade as exc:
            upgrade = exc
    if not create:  # as File > Open: only a command that creates makes one
        guard.refuse_empty_file(path, "import into it to make it one")
    reason = guard.why_not_writable(path)
    if reason is None:
        return Project(path, create=create)
    if upgrade is None and create:
        raise DatabaseError(path, f"{reason}; this command writes to it, so nothing was done "
                                  "(commands that only read it, such as info, work)")
    try:
        if upgrade is not None:
            raise upgrade
        project = Project(path, read_only=True)
    except NeedsUpgrade as exc:
        raise DatabaseError(exc.path, f"{exc.reason.split(';')[0]}, which cannot be written here: {reason}") from exc
    project.read_only_why = reason
    return _warn_read_only(project, reason)


def _warn_read_only(project: Project, reason: str | None) -> Project:
    """A command on a project it cannot write, or reads only as a snapshot: says so on stderr."""
    why = "; ".join(w for w in (reason, store_engine.SNAPSHOT_WHY if project.snapshot else None) if w)
    if why:
        log.warning("%s: opened read-only (%s); nothing is saved", project.location, why)
    return project


def example_database() -> Path:
    """The embedded example project shipped with the repository."""
    return REPO_ROOT / EXAMPLE_DB_NAME


def copy_example(dest: str | os.PathLike, overwrite: bool = False, wait_s: float = 30.0) -> Path:
    """Copy the example project to ``dest`` once; never over a file another instance may have open.

    See ``project_guard.copy_example_once`` (issue 12: a copy over an open project, or next to
    a stale -wal, corrupts it).
    """
    src = example_database()
    if not src.is_file():
        raise DatabaseError(src, "the embedded example project is missing from this installation")
    return guard.copy_example_once(src, Path(dest), overwrite=overwrite, wait_s=wait_s)
