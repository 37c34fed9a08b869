"""A run of several export formats is written whole or not at all.

Every format of the run writes into a fresh hidden folder inside the destination (the same file
system, so putting a file in place is a rename). Only when every format has finished are the
files moved into place: a file of the same name already there is replaced only then, and put
back if a later move fails; a user's file the run does not write is never touched. When a
format fails, a move fails or the run is stopped, the hidden folder is removed and the
destination is as it was before the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ...core.errors import MammoError
from .paths import ExportPathError, refuse_database

STAGING_PREFIX = ".mammo-export-"


class ExportRunError(MammoError):
    """One format of a run failed (or could not be put in place); nothing of the run was kept."""

    def __init__(self, fmt: str, reason: str, folder: Path):
        self.format, self.reason = fmt, reason
        super().__init__(f"export {fmt} failed: {reason}; nothing was written, {folder} is as it was")


STALE_AFTER_S = 24 * 3600  # no export runs a day: an older staging folder is a killed run's


def remove_stale(root: Path, now: float | None = None) -> list[Path]:
    """Remove the staging folders that runs killed outright (power cut, SIGKILL) left in ``root``:
    nothing else ever looks at them. A folder younger than a day may be another run's, and stays."""
    now = time.time() if now is None else now
    removed = []
    for path in root.glob(f"{STAGING_PREFIX}*.part"):
        try:
            if path.is_dir() and not path.is_symlink() and now - path.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(path)
                removed.append(path)
        except OSError:  # another run's, or not ours to remove: left
            continue
    return removed


@contextlib.contextmanager
def staging_folder(root: Path) -> Iterator[Path]:
    """A fresh hidden folder inside ``root`` for one run, removed (with what is left in it) at the end."""
    remove_stale(root)
    path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, suffix=".part", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _moves(staging: Path, root: Path, name: str) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The folders to create and the (staged file, destination) pairs of one staged entry."""
    src, dst = staging / name, root / name
    if not src.exists():
        return [], []  # the format wrote nothing (predictions without a model)
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise ExportPathError(f"{dst} is a file; this export writes a folder there")
        folders = [dst, *(dst / d.relative_to(src) for d in sorted(src.rglob("*")) if d.is_dir())]
        return folders, [(f, dst / f.relative_to(src)) for f in sorted(src.rglob("*")) if not f.is_dir()]
    if dst.is_dir() and not dst.is_symlink():
        raise ExportPathError(f"{dst} is a folder; this export writes a file there")
    refuse_database(dst)
    return [], [(src, dst)]


def commit(staging: Path, root: Path, entries: dict[str, str]) -> None:
    """Move the staged ``entries`` (format -> name inside the folder) into ``root``; on any failure
    undo the moves already made, restoring replaced files (raises ExportRunError naming the format)."""
    backups = staging / ".replaced"  # entry names never start with a dot
    made: list[Path] = []
    done: list[tuple[Path, Path | None]] = []
    fmt = ""
    try:
        for fmt, name in entries.items():
            folders, moves = _moves(staging, root, name)
            for folder in folders:
                if not folder.is_dir():
                    folder.mkdir()
                    made.append(folder)
            for src, dst in moves:
                backup = None
                if dst.exists() or dst.is_symlink():
                    if dst.is_dir() and not dst.is_symlink():
                        raise ExportPathError(f"{dst} is a folder; this export writes a file there")
                    backups.mkdir(exist_ok=True)
                    backup = backups / str(len(done))
                    os.replace(dst, backup)
                try:
                    os.replace(src, dst)
                except BaseException:
                    if backup is not None:
                        os.replace(backup, dst)
                    raise
                done.append((dst, backup))
    except BaseException as exc:
        for dst, backup in reversed(done):
            if backup is None:
                dst.unlink(missing_ok=True)
            else:
                os.replace(backup, dst)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, Exception):
            reason = str(exc) if isinstance(exc, MammoError) else f"{type(exc).__name__}: {exc}"
            raise ExportRunError(fmt, f"could not put its files in place: {reason}", root) from exc
        raise
