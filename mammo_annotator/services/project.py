"""A project: one database file, its settings, a session per unit of work and an event hub."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..core.iom import DEFAULT_ALPHA
from ..core.types import GridSpec
from ..store import models as model_store
from ..store.engine import DatabaseError, explain_operational_error, open_database
from ..store.server import display_url, is_url, server_side_folder, sqlite_path_of
from .events import Events

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DB_NAME = "data.sqlite.example"


class Project:
    """Owns the engine; every use case opens a short session with ``project.session()``.

    Sessions are per thread and short-lived, so the GUI can write while a trainer reads.
    """

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.target = str(path)  # what reopens it (a file path, or a URL without password)
        self.is_server = is_url(self.target) and sqlite_path_of(self.target) is None
        # ``path``: the file, or for a server project a local folder for side files (caches)
        self.path = server_side_folder(self.target) if self.is_server else Path(sqlite_path_of(self.target) or path)
        self.location = display_url(self.target) if self.is_server else str(self.path)  # shown to users
        self.engine, self._sessionmaker = open_database(self.target if self.is_server else self.path, create=create)
        self.events = Events()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error (nothing half-written)."""
        session = self._sessionmaker()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise explain_operational_error(self.location, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # settings -------------------------------------------------------------------------
    def grid_spec(self) -> GridSpec:
        with self.session() as s:
            d = model_store.get_setting(s, "grid", None)
        return GridSpec(**d) if d else GridSpec()

    def set_grid_spec(self, spec: GridSpec) -> None:
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

    def __repr__(self) -> str:
        return f"Project({self.location!r})"


def open_project(path: str | os.PathLike, create: bool = False) -> Project:
    return Project(path, create=create)


def example_database() -> Path:
    """The embedded example project shipped with the repository."""
    return REPO_ROOT / EXAMPLE_DB_NAME


def copy_example(dest: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy the example project to ``dest`` (the example itself is never modified in place)."""
    dest = Path(dest)
    src = example_database()
    if not src.is_file():
        raise DatabaseError(src, "the embedded example project is missing from this installation")
    if dest.exists() and not overwrite:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest
