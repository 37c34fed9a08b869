"""Output paths: exports go only where the user points, and names built from ids stay inside it.

Image ids, patient keys and file names come from outside (DICOM headers, dataset CSVs), so any of
them may hold ``..``, slashes or odd characters; every file name is reduced to a safe component
and then checked to resolve inside the chosen folder. Files are written to a ``.part`` file and
renamed, so an interrupted export never leaves a torn file behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterator

from ...core.errors import MammoError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120
SQLITE_HEADER = b"SQLite format 3\x00"


class ExportPathError(MammoError):
    """An output path is unusable (a file where a folder is needed, or a name that escapes it)."""


def safe_component(text: str, fallback: str = "item") -> str:
    """One harmless file-name component: letters, digits, ``._-``; no leading dots, never empty."""
    name = _UNSAFE.sub("_", str(text)).strip("._")[:MAX_NAME].strip("._")
    return name or fallback


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` with ``name`` made safe; refuses anything that would land elsewhere."""
    root = folder.resolve()
    path = (root / safe_component(name)).resolve()
    if path.parent != root:
        raise ExportPathError(f"refusing to write {path}: outside the export folder {root}")
    return path


def out_folder(out: str | os.PathLike) -> Path:
    """The folder the user chose (created when missing); a file there is refused."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ExportPathError(f"{path} is a file; choose a folder for this export")
    path.mkdir(parents=True, exist_ok=True)
    return path


def out_file(out: str | os.PathLike, default_name: str) -> Path:
    """A single-file export: ``out`` itself when it names a file (has a suffix and is no folder),
    else ``default_name`` inside the folder ``out``."""
    path = Path(out).expanduser()
    if path.is_dir() or not path.suffix:
        return out_folder(path) / default_name
    refuse_database(path)  # before any work; atomic_open checks again when it writes
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def refuse_database(path: Path) -> None:
    """Never replace a SQLite database (a project, this one included), its journal or its instance
    lock with an export: ``--out p.sqlite`` turned the project into a CSV file, and a new file
    renamed over ``p.sqlite.lock`` let two programs each hold a lock on a different file."""
    base = path.with_name(re.sub(r"(-(wal|shm|journal)|\.lock)$", "", path.name))
    for candidate in {path, base}:
        try:
            with open(candidate, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError:  # absent, a folder, unreadable: nothing to protect here
            continue
        if head == SQLITE_HEADER:
            raise ExportPathError(f"refusing to write {path}: {candidate.name} is a SQLite database "
                                  "(a project?); choose another file")


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Write a fresh temporary file beside ``path``, renamed to ``path`` on success and removed on
    any error. The temporary name is new each time and created exclusively, so a stale or planted
    ``.part`` file (a symlink elsewhere) is never written through. Text is UTF-8 unless the caller
    says otherwise: the locale's encoding (cp1252 on Windows, ASCII under LANG=C) made a CSV with a
    name such as "Łukasz" fail mid-export, and wrote other names in bytes no other export uses."""
    refuse_database(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".part")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # an export is an ordinary file, not mkstemp's private one
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
