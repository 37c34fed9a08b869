"""Backups and restores against hostile conditions: other processes holding the file, many
restores in one second, files that are not projects, refused migrations, a locked source.

Real SQLite files and real second processes throughout: the locks under test are the OS's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from mammo_annotator.services.project import open_project
from mammo_annotator.services.project_guard import restore_latest
from mammo_annotator.store import backup as backups
from mammo_annotator.store import restore
from mammo_annotator.store.restore import DatabaseInUse
from mammo_annotator.store.engine import DatabaseError


def _project(tmp_path: Path, name: str = "p.sqlite") -> Path:
    p = open_project(tmp_path / name, create=True)
    p.set_setting("kept", 1)
    p.close()
    return tmp_path / name


def _setting(path: Path, key: str) -> object:
    p = open_project(path, read_only=True)
    try:
        return p.setting(key)
    finally:
        p.close()


@contextlib.contextmanager
def _other_process(db: Path, body: str) -> Iterator[subprocess.Popen]:
    """A second process running ``body`` on ``db`` (as ``c``); yields once it printed 'ready'."""
    code = f"import sqlite3, sys, time\ndb = {str(db)!r}\n{body}"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


WAL_WRITER = """
c = sqlite3.connect(db, timeout=5)
c.execute("PRAGMA journal_mode=WAL")
for i in range(100000):
    c.execute("INSERT OR REPLACE INTO settings (key, value_json) VALUES (?, ?)", (f"w{i}", "1"))
    c.commit()
    if i == 0:
        print("ready", flush=True)
    time.sleep(0.02)
"""
WAL_IDLE = """
c = sqlite3.connect(db)
c.execute("SELECT count(*) FROM settings").fetchone()
print("ready", flush=True)
time.sleep(60)
"""
JOURNAL_HOLDER = """
c = sqlite3.connect(db, isolation_level=None)
c.execute("BEGIN {lock}")
c.execute("UPDATE settings SET value_json = '2' WHERE key = 'kept'")
print("ready", flush=True)
time.sleep(60)
"""
JOURNAL_WRITER = JOURNAL_HOLDER.replace("{lock}", "IMMEDIATE")
JOURNAL_EXCLUSIVE = JOURNAL_HOLDER.replace("{lock}", "EXCLUSIVE")


def _asides(folder: Path) -> list[Path]:
    """The replaced files moved aside (their -wal/-shm/-journal not counted)."""
    sidecar = ("-wal", "-shm", "-journal")
    return sorted(p for p in folder.iterdir() if ".damaged-" in p.name and not p.name.endswith(sidecar))


def _to_rollback_journal(path: Path) -> None:
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    con.close()


@pytest.mark.parametrize("body", [WAL_WRITER, WAL_IDLE], ids=["writer-committing", "idle-connection"])
def test_a_restore_is_refused_while_another_process_has_the_wal_project_open(tmp_path, body):
    path = _project(tmp_path)
    good = backups.make_backup(path, "manual")
    with _other_process(path, body) as proc:
        with pytest.raises(DatabaseInUse, match="in use by another program") as err:
            restore_latest(path, good, in_use_wait_s=0.3)
        assert str(path) in str(err.value) and proc.poll() is None
        assert _asides(tmp_path) == [] and _setting(path, "kept") == 1  # nothing was moved or lost
    restore_latest(path, good, in_use_wait_s=0.3)  # that process gone: the restore goes ahead
    assert _setting(path, "kept") == 1 and len(_asides(tmp_path)) == 1


def test_a_restore_is_refused_while_a_rollback_journal_writer_holds_its_journal(tmp_path):
    path = _project(tmp_path)
    good = backups.make_backup(path, "manual")
    _to_rollback_journal(path)
    journal = Path(f"{path}-journal")
    with _other_process(path, JOURNAL_WRITER):
        assert journal.exists()
        with pytest.raises(DatabaseInUse, match=str(path)):
            restore_latest(path, good, in_use_wait_s=0.3)
        assert journal.exists() and _asides(tmp_path) == []  # the writer's journal stays with its file
    # the writer was killed: its hot journal belongs to the old file, never to the restored one
    restore_latest(path, good, in_use_wait_s=0.3)
    assert not journal.exists() and backups.check_file(path) == "ok" and _setting(path, "kept") == 1


def test_move_aside_takes_every_sidecar_and_never_overwrites_an_earlier_one(tmp_path):
    db = tmp_path / "p.sqlite"
    for i in range(10):  # well within one or two seconds: the time stamp repeats
        for side in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{side}").write_text(f"{i}{side}")
        aside = restore.move_aside(db, "damaged")
        assert not any(Path(f"{db}{side}").exists() for side in ("", "-wal", "-shm", "-journal"))
        assert all(Path(f"{aside}{side}").read_text() == f"{i}{side}" for side in ("", "-wal", "-shm", "-journal"))
    assert len([p for p in tmp_path.iterdir() if p.name.endswith("-journal")]) == 10


def test_ten_restores_in_a_row_keep_ten_replaced_files(tmp_path):
    path = _project(tmp_path)
    good = backups.make_backup(path, "manual")
    for i in range(10):
        p = open_project(path)
        p.set_setting("round", i)
        p.close()
        restore_latest(path, good, in_use_wait_s=0.3)
    assert sorted(_setting(a, "round") for a in _asides(tmp_path)) == list(range(10))


def _execute(path: Path, statement: str) -> None:
    con = sqlite3.connect(path)
    con.execute(statement)
    con.commit()
    con.close()


def _other_app(path: Path) -> None:
    _execute(path, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")


def _unknown_revision(path: Path) -> None:
    _project(path.parent, path.name)
    _execute(path, "UPDATE alembic_version SET version_num = '9999_future'")


def _damaged_project(path: Path) -> None:
    from tests.store.test_lock_and_backup import _damage

    _project(path.parent, path.name)
    _damage(path)


@pytest.mark.parametrize("make,said", [
    (_other_app, "not a Mammo Annotator project"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"hello, not a database" * 100), "not a Mammo Annotator project"),
    (_unknown_revision, "newer Mammo Annotator"),
    (_damaged_project, "fails its integrity check"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: None, "no such backup file"),
], ids=["other-app", "zero-bytes", "garbage", "unknown-revision", "damaged", "folder", "missing"])
def test_a_restore_of_anything_but_a_project_changes_nothing(tmp_path, make, said):
    path = _project(tmp_path)
    other = tmp_path / "other" / "x.sqlite"
    other.parent.mkdir()
    make(other)
    with pytest.raises(DatabaseError, match=said) as err:
        restore_latest(path, other, in_use_wait_s=0.3)
    assert str(other) in str(err.value)
    assert _asides(tmp_path) == [] and _setting(path, "kept") == 1


def test_automatic_backups_never_rotate_a_manual_one_away(tmp_path):
    path = _project(tmp_path)
    manual = backups.make_backup(path, "manual", keep=2)
    first = backups.make_backup(path, "before-0005", keep=2)
    for _ in range(5):  # a migration refused at every open: the same file, backed up once
        assert backups.make_backup(path, "before-0005", keep=2) == first
    for i in range(5):
        p = open_project(path)
        p.set_setting("day", i)
        p.close()
        backups.make_backup(path, "daily", keep=2)
    kinds = [backups.backup_kind(b) for b in backups.list_backups(path)]
    assert manual in backups.list_backups(path) and first in backups.list_backups(path)
    assert sorted(kinds) == ["before", "daily", "daily", "manual"]


def test_a_migration_refused_at_every_open_makes_one_backup(tmp_path):
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config, head_revision

    p = open_project(tmp_path / "p.sqlite", create=True)
    command.downgrade(alembic_config(p.engine), "0003")
    p.close()
    path = tmp_path / "p.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE pacs_instances (x)")  # clashes with migration 0004: it fails every time
    con.commit()
    con.close()
    manual = backups.make_backup(path, "manual")
    for _ in range(backups.KEEP + 2):
        with pytest.raises(DatabaseError):
            open_project(path)
    made = backups.list_backups(path)
    assert manual in made and [backups.backup_kind(b) for b in made].count("before") == 1
    assert all(f"before-{head_revision()}" in b.name for b in made if b != manual)


def test_a_backup_of_a_locked_file_gives_up_and_leaves_no_temp_file(tmp_path):
    path = _project(tmp_path)
    _to_rollback_journal(path)
    with _other_process(path, JOURNAL_EXCLUSIVE):
        start = time.monotonic()
        with pytest.raises(DatabaseError, match="locked by another program") as err:
            backups.make_backup(path, "manual", timeout=0.5)
        assert time.monotonic() - start < 5 and str(path) in str(err.value)
    assert list(backups.backup_dir(path).iterdir()) == []  # no temp file, no half backup


def test_temp_files_of_a_killed_backup_are_swept_by_the_next(tmp_path):
    path = _project(tmp_path)
    folder = backups.backup_dir(path)
    folder.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    left = [folder / f".20240101-000000-000000-manual.sqlite.{dead}.tmp{side}" for side in ("", "-journal")]
    for f in left:
        f.write_bytes(b"half a backup")
    alive = folder / f".20240101-000000-000000-manual.sqlite.{os.getpid()}.tmp"  # a backup still running
    alive.write_bytes(b"in progress")
    made = backups.make_backup(path, "manual")
    assert not any(f.exists() for f in left) and alive.exists()
    assert sorted(folder.iterdir()) == sorted([made, alive])
