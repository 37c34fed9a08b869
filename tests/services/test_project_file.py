"""The file under an open SQLite project: a write never goes to a file deleted or replaced on disk
(it would vanish at close), and a thread's busy timeout bounds how long it waits for another
program's write lock (the GUI thread: about 2 s; every other thread: the long default)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from mammo_annotator.services.project import INTERACTIVE_BUSY_TIMEOUT_MS, open_project
from mammo_annotator.store.engine import DatabaseError


@pytest.fixture
def project(tmp_path):
    p = open_project(tmp_path / "p.sqlite", create=True)
    p.set_setting("kept", 1)
    yield p
    p.close()


def _unlink_with_sidecars(path: Path) -> None:
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def test_a_write_to_a_deleted_project_file_is_refused_and_names_it(project):
    _unlink_with_sidecars(project.path)
    with pytest.raises(DatabaseError) as err:
        project.set_setting("lost", 2)
    assert str(project.path) in str(err.value) and "deleted or replaced on disk" in str(err.value)
    assert "nothing was saved" in str(err.value)
    assert project.setting("lost") is None  # rolled back, not half-written into the unlinked file
    assert project.setting("kept") == 1  # reading what was there still works


def test_a_core_statement_write_to_a_deleted_file_is_refused_too(project):
    _unlink_with_sidecars(project.path)
    with pytest.raises(DatabaseError, match="deleted or replaced"):
        with project.session() as s:
            s.execute(text("UPDATE settings SET value_json = '5' WHERE key = 'kept'"))
    assert project.setting("kept") == 1


def test_a_write_to_a_replaced_project_file_is_refused(project, tmp_path):
    other = tmp_path / "other.sqlite"
    shutil.copy(project.path, other)
    os.replace(other, project.path)  # a new inode at the same path
    with pytest.raises(DatabaseError, match="deleted or replaced"):
        project.set_setting("lost", 2)


def test_writes_to_the_file_that_was_opened_still_work(project):
    project.set_setting("more", 3)
    assert project.setting("more") == 3


def test_a_reopened_project_writes_normally(project, tmp_path):
    """After a restore-like replacement the project is reopened, and the new file is its file."""
    shutil.copy(project.path, tmp_path / "copy.sqlite")
    project.close()
    os.replace(tmp_path / "copy.sqlite", project.path)
    again = open_project(project.path)
    try:
        again.set_setting("after", 4)
        assert again.setting("after") == 4
    finally:
        again.close()


class _WriteLock:
    """Another program's connection holding the SQLite write lock until released."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


def test_a_thread_with_the_interactive_timeout_gives_up_in_about_2_s(project):
    project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)
    lock = _WriteLock(project.path)
    try:
        t0 = time.monotonic()
        with pytest.raises(DatabaseError, match="locked by another program"):
            project.set_setting("x", 1)
        took = time.monotonic() - t0
    finally:
        lock.release()
    assert 1.5 <= took < 6, took
    project.set_setting("x", 2)  # once released, the same thread writes
    assert project.setting("x") == 2


def test_other_threads_keep_the_long_timeout_and_finish_once_the_lock_goes(project):
    project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)  # this thread only
    lock = _WriteLock(project.path)
    outcome: list[object] = []

    def write() -> None:
        try:
            project.set_setting("background", 7)
            outcome.append("ok")
        except Exception as exc:  # reported to the test below
            outcome.append(exc)

    worker = threading.Thread(target=write)
    try:
        worker.start()
        worker.join(3.0)
        assert worker.is_alive() and not outcome, outcome  # still waiting after 3 s, not given up at 2
    finally:
        lock.release()
    worker.join(20)
    assert outcome == ["ok"]
    assert project.setting("background") == 7


def test_the_default_timeout_comes_back_when_the_thread_resets_it(project):
    project.set_thread_busy_timeout(500)
    project.setting("kept")
    project.set_thread_busy_timeout(None)
    with project.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000


# a project file that cannot be written here opens read-only, saying why ------------------------
_READ_ONLY_OPEN = """
import sys
from mammo_annotator.services.project_guard import open_instance
from mammo_annotator.store.engine import DatabaseError
try:
    project, note = open_instance(sys.argv[1])
except DatabaseError as exc:
    print("REFUSED", exc)
    raise SystemExit(0)
print("READ_ONLY", project.read_only)
print("NOTE", note)
print("KEPT", project.setting("kept"))
try:
    project.set_setting("x", 1)
except DatabaseError as exc:
    print("WRITE", exc)
project.close()
"""


def _can_mount_read_only() -> bool:
    import shutil as sh
    import subprocess

    if os.geteuid() != 0 or sh.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / / 2>/dev/null || exit 1"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


needs_ro_mount = pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and unshare for a read-only bind mount")


def _open_on_read_only_disk(path: Path, tmp_path: Path) -> tuple[Path, str]:
    """Real: ``path``'s folder bind-mounted read-only in a private mount namespace, opened there
    as the app opens a project; returns the path there and what the script printed."""
    import subprocess
    import sys

    mnt = tmp_path / "ro"
    mnt.mkdir()
    script = tmp_path / "open.py"
    script.write_text(_READ_ONLY_OPEN)
    inner = f"mount --bind -o ro '{path.parent}' '{mnt}' && '{sys.executable}' '{script}' '{mnt / path.name}'"
    run = subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr
    return mnt / path.name, run.stdout


@needs_ro_mount
def test_a_project_on_a_read_only_disk_opens_read_only_with_a_note(project, tmp_path):
    """A rollback-journal file (as the shipped example and copies of it are) on a read-only disk."""
    project.close()
    with sqlite3.connect(project.path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    there, out = _open_on_read_only_disk(project.path, tmp_path)
    assert "READ_ONLY True" in out, out
    assert f"NOTE {there}: the file is not writable" in out and "Opened read-only here" in out
    assert "KEPT 1" in out
    assert "WRITE" in out and "open read-only here: the file is not writable" in out


@needs_ro_mount
def test_a_closed_wal_project_on_a_read_only_disk_opens_read_only_as_a_snapshot(project, tmp_path):
    """WAL without its -shm, which cannot be created there: read with immutable=1 (its -wal is
    gone, so nothing is missed), read-only, saying so (tests/store/test_read_only_wal.py: a -wal
    with changes the file lacks is refused)."""
    project.close()
    there, out = _open_on_read_only_disk(project.path, tmp_path)
    assert "READ_ONLY True" in out and "KEPT 1" in out, out
    assert f"NOTE {there}: the file is not writable" in out and "read as it was when opened" in out


def test_a_project_in_a_read_only_folder_opens_read_only(project, monkeypatch):
    """Simulated (root passes chmod): os.access answers as for a folder this user cannot write."""
    from mammo_annotator.services import project_guard

    project.close()
    real = os.access
    folder = project.path.resolve().parent
    monkeypatch.setattr(project_guard.os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))
    opened, note = project_guard.open_instance(project.path)
    try:
        assert opened.read_only and opened.lock is None
        assert note.startswith(f"{project.path}: its folder is not writable") and "Opened read-only here" in note
        with pytest.raises(DatabaseError, match="open read-only here: its folder is not writable"):
            opened.set_setting("x", 1)
    finally:
        opened.close()


def test_a_writable_project_opens_for_writing_without_a_note(project):
    from mammo_annotator.services.project_guard import open_instance

    project.close()
    opened, note = open_instance(project.path)
    try:
        assert not opened.read_only and note is None
    finally:
        opened.close()


# opening (not creating) never makes a project of an empty file ----------------------------------
def test_opening_an_empty_file_refuses_and_leaves_it_empty(tmp_path):
    from mammo_annotator.services.project_guard import open_guarded

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(DatabaseError) as err:
        open_guarded(empty, create=False)
    assert str(empty) in str(err.value) and "is empty, not a project yet" in str(err.value)
    assert empty.stat().st_size == 0
    assert not Path(f"{empty}-wal").exists()


def test_creating_a_project_in_an_empty_file_is_still_allowed(tmp_path):
    from mammo_annotator.services.project_guard import open_guarded

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    project, note = open_guarded(empty, create=True)
    try:
        assert note is None and not project.read_only
        project.set_setting("made", True)
    finally:
        project.close()
