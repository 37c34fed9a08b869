"""A project: one database file, its settings, a session per unit of work and an event hub."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.orm import Session

from ..core.errors import MammoError
from ..core.iom import DEFAULT_ALPHA
from ..core.types import GridSpec
from ..store import models as model_store
from ..store.engine import DatabaseError, NeedsUpgrade, explain_operational_error, open_database
from ..store.server import display_url, is_url, server_side_folder, sqlite_path_of
from . import project_guard as guard
from .events import Events

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DB_NAME = "data.sqlite.example"


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
        self.lock, self._backups = guard.open_guards(self, instance and not read_only and not self.is_server, create)
        try:
            with guard.migration_guard(self) as before_migrate:
                self.engine, self._sessionmaker = open_database(self.target if self.is_server else self.path, create=create,
                                                                read_only=read_only, before_migrate=before_migrate,
                                                                check=guard.needs_check(self))
        except BaseException:
            guard.close_guards(self)
            raise
        self.events = Events()
        if self._backups is not None:
            self._backups.poke()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error (nothing half-written)."""
        session = self._sessionmaker()
        try:
            yield session
            session.commit()
        except SQLAlchemyDatabaseError as exc:  # locked, read-only, I/O error, a damaged file
            session.rollback()
            if self.read_only and "readonly" in str(exc.orig):
                raise DatabaseError(self.location, "is open read-only here (another instance holds it); "
                                                   "nothing is saved") from exc
            raise explain_operational_error(self.location, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if self._backups is not None:
            self._backups.poke()  # at most a cheap clock check; a due backup runs in its own thread

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


def open_project(path: str | os.PathLike, create: bool = False, read_only: bool = False) -> Project:
    """``read_only``: for commands that only read; they never write, nor wait for another instance
    (a project of an older schema is migrated first, unless another instance holds it)."""
    if read_only:
        try:
            return Project(path, read_only=True)
        except NeedsUpgrade:
            pass
    return Project(path, create=create)


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
