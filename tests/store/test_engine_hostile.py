"""Hostile inputs to the project database: odd file names, a migration failing halfway, empty files.

Real SQLite files throughout (copies of the shipped example project); nothing is mocked.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from mammo_annotator.store.engine import DatabaseError, open_database
from mammo_annotator.store.revisions import head_revision, schema_revision

EXAMPLE = Path(__file__).resolve().parents[2] / "data.sqlite.example"
ODD_NAMES = ["new?x.sqlite", "study#1.sqlite", "100%25.sqlite", "a%3Fb c&d=e.sqlite"]


def _example_copy(dest: Path) -> Path:
    shutil.copyfile(EXAMPLE, dest)
    return dest


def _sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()


# 1. a path is opened exactly as given -------------------------------------------------------

@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_open_that_very_file(tmp_path, name):
    path = tmp_path / name
    engine, _ = open_database(path, create=True)
    with engine.begin() as c:
        c.execute(text("INSERT INTO settings (key, value_json) VALUES ('k', '1')"))
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no stray 'new' or 'study' file
    assert sqlite3.connect(path).execute("SELECT value_json FROM settings WHERE key='k'").fetchone() == ("1",)
    reader, _ = open_database(path, read_only=True)
    try:
        with reader.connect() as c:
            assert c.execute(text("SELECT value_json FROM settings WHERE key='k'")).scalar() == "1"
    finally:
        reader.dispose()


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_through_open_project(tmp_path, name):
    from mammo_annotator.services.project import open_project

    path = _example_copy(tmp_path / name)
    writer = open_project(path)
    writer.set_setting("probe", 7)
    writer.close()
    reader = open_project(path, read_only=True)
    try:
        assert reader.setting("probe") == 7 and schema_revision(reader.engine) == head_revision()
    finally:
        reader.close()
    assert all(p.name.startswith(name) for p in tmp_path.iterdir())  # its -wal, -shm, .lock: no stray file


def test_a_sqlite_url_never_opens_another_file(tmp_path):
    from mammo_annotator.services.project import open_project

    with pytest.raises(DatabaseError, match=r"takes no '\?' options"):
        open_project(f"sqlite:///{tmp_path}/new?x.sqlite", create=True)
    assert list(tmp_path.iterdir()) == []  # no file named 'new'
    project = open_project(f"sqlite:///{tmp_path}/new%3Fx%23.sqlite", create=True)
    project.close()
    assert (tmp_path / "new?x#.sqlite").is_file()


def test_errors_name_the_plain_file_never_a_url(tmp_path):
    path = _example_copy(tmp_path / "two?revs#.sqlite")
    _sql(path, "INSERT INTO alembic_version (version_num) VALUES ('0004')")
    for read_only in (False, True):
        with pytest.raises(DatabaseError, match="several revisions") as err:
            open_database(path, read_only=read_only)
        assert err.value.path == str(path.resolve()) or err.value.path == str(path)
        assert "sqlite:/" not in str(err.value) and "file:" not in str(err.value) and "mode=ro" not in str(err.value)


# 2. a schema upgrade commits whole or not at all ------------------------------------------------

def _half_old_project(path: Path) -> Path:
    """The example project one migration back (0004), with a trigger that fails the version update."""
    _example_copy(path)
    _sql(path, "ALTER TABLE studies DROP COLUMN accession_number",
         "UPDATE alembic_version SET version_num='0004'",
         "CREATE TRIGGER t BEFORE UPDATE ON alembic_version BEGIN SELECT RAISE(ABORT, 'crash'); END")
    return path


def _columns(path: Path, table: str) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def test_a_failed_upgrade_changes_nothing_and_names_the_backup(tmp_path):
    path = _half_old_project(tmp_path / "p.sqlite")
    with pytest.raises(DatabaseError) as err:
        open_database(path)
    assert "accession_number" not in _columns(path, "studies")  # the column add was rolled back too
    assert sqlite3.connect(path).execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
    backups = sorted((tmp_path / "p.sqlite.backups").glob("*.sqlite"))
    assert len(backups) == 1 and str(backups[0]) in str(err.value)
    assert "crash" in str(err.value) and str(path) in str(err.value)
    _sql(path, "DROP TRIGGER t")
    engine, _ = open_database(path)  # once the cause is gone, the upgrade runs again and succeeds
    try:
        assert schema_revision(engine) == head_revision()
        assert "accession_number" in _columns(path, "studies")
    finally:
        engine.dispose()


def test_a_failure_in_the_last_step_undoes_the_earlier_steps_too(tmp_path):
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config

    path = _example_copy(tmp_path / "p.sqlite")
    engine, _ = open_database(path)
    command.downgrade(alembic_config(engine), "0002")
    engine.dispose()
    _sql(path, "CREATE TRIGGER t BEFORE UPDATE ON alembic_version WHEN new.version_num = '0005' "
               "BEGIN SELECT RAISE(ABORT, 'crash'); END")
    with pytest.raises(DatabaseError, match="0002 to 0005"):
        open_database(path)
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
    con.close()
    assert not {"image_leases", "job_locks", "pacs_instances"} & tables  # 0003 and 0004 rolled back


def test_after_a_failed_upgrade_foreign_keys_are_on_again(tmp_path):
    path = _half_old_project(tmp_path / "p.sqlite")
    with pytest.raises(DatabaseError):
        open_database(path)
    _sql(path, "DROP TRIGGER t")
    engine, _ = open_database(path)
    try:
        with engine.connect() as c:
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert c.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    finally:
        engine.dispose()


def test_a_full_upgrade_from_the_first_schema_keeps_rows_and_links(tmp_path):
    """Every step in one transaction: the example's data, downgraded to 0001, comes back whole."""
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config

    path = _example_copy(tmp_path / "p.sqlite")
    engine, _ = open_database(path)
    with engine.connect() as c:
        before = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("images", "annotations", "studies")}
    command.downgrade(alembic_config(engine), "0001")
    engine.dispose()
    engine, _ = open_database(path)
    try:
        with engine.connect() as c:
            after = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in before}
            assert c.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        assert after == before and schema_revision(engine) == head_revision()
    finally:
        engine.dispose()


# 3. a read-only open never makes a project -------------------------------------------------------

def test_read_only_open_of_an_empty_file_refuses_and_writes_nothing(tmp_path):
    from mammo_annotator.services.project import open_project

    path = tmp_path / "empty.sqlite"
    path.touch()
    with pytest.raises(DatabaseError, match="is empty, not a project yet") as err:
        open_project(path, read_only=True)
    assert str(path) in str(err.value)
    assert path.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["empty.sqlite"]


def test_an_empty_file_opened_for_writing_becomes_a_project(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    engine, _ = open_database(path)
    try:
        assert schema_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_an_empty_version_table_beside_project_tables_is_refused_untouched(tmp_path):
    from mammo_annotator.services.project import open_project

    path = _example_copy(tmp_path / "p.sqlite")
    _sql(path, "DELETE FROM alembic_version")
    before = _dump(path)
    for read_only in (True, False):
        with pytest.raises(DatabaseError, match="records no schema revision") as err:
            open_project(path, read_only=read_only)
        assert "already exists" not in str(err.value) and str(path) in str(err.value)
    assert _dump(path) == before


def _dump(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_a_new_project_in_a_missing_folder_says_so(tmp_path):
    """It said "the folder is not writable", which sends the user to the permissions."""
    with pytest.raises(DatabaseError, match=r"the folder .*nodir does not exist"):
        open_database(tmp_path / "nodir" / "p.sqlite", create=True)
    assert not (tmp_path / "nodir").exists()
