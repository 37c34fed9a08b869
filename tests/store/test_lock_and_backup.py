"""The instance lock, online backups, the integrity check on open and restoring a backup."""

from __future__ import annotations

import os
import socket
import sqlite3
import time

import pytest

from mammo_annotator.services.project import Project, open_project
from mammo_annotator.services.project_guard import BackupSchedule, open_guarded, restore_latest
from mammo_annotator.store import backup as backups
from mammo_annotator.store.backup import DamagedDatabase
from mammo_annotator.store.engine import DatabaseError
from mammo_annotator.store.lock import ProjectLock, ProjectLocked, lock_path, read_holder


def _project(tmp_path, name="p.sqlite"):
    p = open_project(tmp_path / name, create=True)
    p.set_setting("kept", 1)
    return p


def test_the_lock_names_its_holder_and_is_shared_within_a_process(tmp_path):
    p = _project(tmp_path)
    p.close()
    a = Project(tmp_path / "p.sqlite", instance=True)
    worker = Project(tmp_path / "p.sqlite")  # the training thread's own project: no lock needed
    again = ProjectLock(tmp_path / "p.sqlite").acquire()  # same process: shared, counted
    holder = read_holder(tmp_path / "p.sqlite")
    assert holder.pid == os.getpid() and holder.host == socket.gethostname() and holder.since <= time.time()
    again.release()
    worker.close()
    assert read_holder(tmp_path / "p.sqlite").pid == os.getpid()  # still held by ``a``
    a.close()
    assert read_holder(tmp_path / "p.sqlite") is None and lock_path(tmp_path / "p.sqlite").exists()


def test_a_read_only_project_reads_and_refuses_writes(tmp_path):
    _project(tmp_path).close()
    ro = open_project(tmp_path / "p.sqlite", read_only=True)
    try:
        assert ro.read_only and ro.setting("kept") == 1
        with pytest.raises(DatabaseError, match="open read-only here.*nothing is saved"):
            ro.set_setting("x", 2)
    finally:
        ro.close()


def test_a_read_only_open_of_an_old_schema_migrates_it_first(tmp_path):
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config, head_revision, schema_revision

    p = _project(tmp_path)
    command.downgrade(alembic_config(p.engine), "0001")
    p.close()
    reader = open_project(tmp_path / "p.sqlite", read_only=True)
    try:
        assert schema_revision(reader.engine) == head_revision()
    finally:
        reader.close()
    made = backups.list_backups(tmp_path / "p.sqlite")
    assert len(made) == 1 and f"before-{head_revision()}" in made[0].name  # backed up before the migration
    con = sqlite3.connect(made[0])
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    con.close()


def test_a_migration_waits_for_no_other_instance(tmp_path, monkeypatch):
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config

    p = _project(tmp_path)
    command.downgrade(alembic_config(p.engine), "0001")
    p.close()
    import mammo_annotator.services.project_guard as guard

    class Other(ProjectLock):  # a lock another process holds
        def acquire(self, timeout: float = 0.0):
            raise ProjectLocked(self.db_path, None)

    monkeypatch.setattr(guard, "ProjectLock", Other)
    with pytest.raises(DatabaseError, match="needs a schema upgrade, but is open in another"):
        open_project(tmp_path / "p.sqlite")


def test_online_backup_while_a_writer_works_and_only_the_newest_are_kept(tmp_path):
    p = _project(tmp_path)
    try:
        made = []
        for i in range(5):
            p.set_setting(f"k{i}", "v" * 1000)
            made.append(backups.make_backup(p.path, "test", keep=3))
        kept = backups.list_backups(p.path)
        assert kept == sorted(made[-3:], reverse=True)
        con = sqlite3.connect(kept[0])
        assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # self-contained: no -wal
        assert con.execute("SELECT value_json FROM settings WHERE key='k4'").fetchone() == ('"' + "v" * 1000 + '"',)
        con.close()
        assert backups.check_file(kept[0]) == "ok"
    finally:
        p.close()


def test_the_daily_backup_runs_once_per_period(tmp_path, monkeypatch):
    import mammo_annotator.services.project_guard as guard

    monkeypatch.setattr(guard, "BACKUP_CHECK_S", 0.0)
    p = _project(tmp_path)
    p.close()
    sched = BackupSchedule(tmp_path / "p.sqlite", every_s=3600)
    sched.poke()
    sched.wait()
    sched.poke()  # not due again within the period
    sched.wait()
    assert len(backups.list_backups(tmp_path / "p.sqlite")) == 1 and sched.last is not None and sched.error is None
    inst = Project(tmp_path / "p.sqlite", instance=True)  # an instance keeps them: it pokes on open and commit
    inst.set_setting("x", 1)
    inst.close()
    assert len(backups.list_backups(tmp_path / "p.sqlite")) == 1  # the day's backup exists already


def _damage(path) -> None:
    con = sqlite3.connect(path)
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name='settings'").fetchone()[0]
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\x0d" + os.urandom(page - 1))  # garbage where the settings table's root page was


def test_a_damaged_project_is_refused_with_its_last_good_backup_and_can_be_restored(tmp_path):
    p = _project(tmp_path)
    good = backups.make_backup(p.path, "daily")
    p.set_setting("after", 2)
    p.close()
    path = tmp_path / "p.sqlite"
    _damage(path)
    with pytest.raises(DamagedDatabase, match="is damaged") as err:
        open_project(path)
    assert err.value.backup == good and str(good) in str(err.value) and "--restore" in str(err.value)
    with pytest.raises(DamagedDatabase):
        open_guarded(path, ask_restore=lambda exc: False)  # declined: still refused
    project, note = open_guarded(path, ask_restore=lambda exc: True)
    try:
        assert project.setting("kept") == 1 and project.setting("after") is None and "Restored" in note
    finally:
        project.close()
    aside = [f for f in tmp_path.iterdir() if ".damaged-" in f.name]
    assert aside and backups.check_file(aside[0]) != "ok"  # the damaged file is kept, not deleted


def test_no_backup_is_said_plainly_and_restore_refuses(tmp_path):
    _project(tmp_path).close()
    path = tmp_path / "p.sqlite"
    _damage(path)
    with pytest.raises(DamagedDatabase, match="no backup of it exists"):
        open_project(path)
    with pytest.raises(DatabaseError, match="no good backup"):
        restore_latest(path)
