"""The ``backups`` command: list, check, make and restore a project's rolling backups (issue 12)."""

from __future__ import annotations

import time
from pathlib import Path


def cmd_backups(args) -> int:
    from .services.project_guard import backup_now, restore_latest

    path = Path(args.db)
    if args.check:
        if check_project(path) != "ok":
            return 1
    if args.now:
        print(f"backed up to {backup_now(path)}")
    if args.restore is not None:
        refuse_self_restore(path, args.restore)
        chosen, aside = restore_latest(path, args.restore or None)
        print(f"restored {chosen}" + (f"; the replaced file was moved to {aside}" if aside else ""))
    if not (args.check or args.now or args.restore is not None):
        list_all(path)
    return 0


def refuse_self_restore(path: Path, backup: str) -> None:
    """``--restore p.sqlite`` of the project p.sqlite "restored" the file from itself and kept the
    healthy original aside as ``.damaged-...``: a slip of the argument, refused."""
    from .core.errors import MammoError

    if backup and Path(backup).exists() and path.exists() and Path(backup).samefile(path):
        raise MammoError(f"{backup}: is the project itself, not one of its backups "
                         "(`mammo-annotator backups --db PROJECT` lists them)")


def check_project(path: Path) -> str:
    """The full integrity check of the project file, printed; a missing file or a folder is an error.
    A WAL project on a read-only disk without its -shm is checked as SQLite reads it there
    (``read_only_snapshot``; refused when its -wal holds changes that reading would miss)."""
    from .services.project_guard import require_project_file
    from .store.backup import check_file
    from .store.engine import read_only_snapshot

    file = require_project_file(path)
    problem = check_file(file, full=True, read_only=True, immutable=read_only_snapshot(file))
    print(f"{path}: integrity {problem}")
    return problem


def list_all(path: Path) -> None:
    """The backups, newest first; those of a deleted project too (they are what restores it)."""
    from .services.project_guard import require_project_file
    from .store.backup import check_file, list_backups

    found = list_backups(path)
    if not found:
        require_project_file(path)
        print(f"{path}: no backups yet (one is made before each schema upgrade and once a day in the app)")
    for b in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(b.stat().st_mtime))
        print(f"{when}  {b.stat().st_size / 1e6:8.2f} MB  {check_file(b, read_only=True):4s}  {b}")


def register(sub, with_db) -> None:
    p = with_db(sub.add_parser("backups", help="list the project's backups; --check, --now, --restore [FILE]"))
    p.add_argument("--check", action="store_true", help="full integrity check of the project file")
    p.add_argument("--now", action="store_true", help="make a backup now (online: the app may keep working)")
    p.add_argument("--restore", nargs="?", const="", default=None, metavar="FILE",
                   help="put the newest good backup (or FILE) in place of the project; the old file is kept aside")
    p.set_defaults(func=cmd_backups)
