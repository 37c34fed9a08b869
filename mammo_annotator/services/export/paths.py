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
from pathlib import Path
from typing import IO, Iterator

from ...core.errors import MammoError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


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
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open ``path.part`` for writing; renamed to ``path`` on success, removed on any error."""
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
