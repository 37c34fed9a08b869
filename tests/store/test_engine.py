"""The project database: pragmas, migrations, refusal of bad files, concurrency."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest
from sqlalchemy import text

from mammo_annotator.store.engine import DatabaseError, open_database
from mammo_annotator.store.revisions import head_revision, schema_revision


def test_new_database_is_migrated_and_in_wal(tmp_path):
    engine, Session = open_database(tmp_path / "p.sqlite", create=True)
    assert schema_revision(engine) == head_revision()
    with engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        tables = set(c.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
    assert {"patients", "studies", "images", "annotations", "annotation_revisions", "regions", "region_labels",
            "region_grids", "features", "model_versions", "predictions", "settings", "extractor_weights",
            "alembic_version"} <= tables


def test_a_project_of_the_first_schema_is_upgraded_with_its_data(tmp_path):
    from alembic import command

    from mammo_annotator.store.revisions import alembic_config

    path = tmp_path / "old.sqlite"
    engine, _ = open_database(path, create=True)
    command.downgrade(alembic_config(engine), "0001")
    with engine.begin() as c:
        c.execute(text("INSERT INTO settings (key, value_json) VALUES ('grid', '{\"window\": 224}')"))
    engine.dispose()
    assert sqlite3.connect(path).execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    engine, _ = open_database(path)
    assert schema_revision(engine) == head_revision() == "0005"
    with engine.connect() as c:
        assert c.execute(text("SELECT value_json FROM settings WHERE key='grid'")).scalar() == '{"window": 224}'
        assert c.execute(text("SELECT count(*) FROM extractor_weights")).scalar() == 0
        assert c.execute(text("SELECT count(*) FROM pacs_instances")).scalar() == 0
        assert c.execute(text("SELECT count(*) FROM studies WHERE accession_number IS NOT NULL")).scalar() == 0


def test_missing_file_refused_without_create(tmp_path):
    with pytest.raises(DatabaseError, match="no such project database"):
        open_database(tmp_path / "nope.sqlite")


def test_not_sqlite_refused(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database at all")
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        open_database(bad)


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "p.sqlite"
    open_database(path, create=True)[0].dispose()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num='9999_future'")
    con.commit()
    con.close()
    with pytest.raises(DatabaseError, match="newer Mammo Annotator"):
        open_database(path)


def test_read_only_open_never_writes(tmp_path):
    """A read-only open (SQLite's mode=ro URI, which binds root too) reads, refuses every write
    with the reason, and leaves the file as it was."""
    from mammo_annotator.services.project import open_project

    path = tmp_path / "p.sqlite"
    writer = open_project(path, create=True)
    writer.set_setting("kept", 1)
    writer.close()
    before = path.read_bytes()
    project = open_project(path, read_only=True)
    try:
        assert project.read_only and project.setting("kept") == 1
        with pytest.raises(DatabaseError, match="read-only") as err:
            project.set_setting("a", 1)
        assert str(path.name) in str(err.value)
        assert project.setting("a") is None
    finally:
        project.close()
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions (the mode=ro test above covers root)")
def test_read_only_database_reports_reason(tmp_path):
    from mammo_annotator.services.project import open_project

    path = tmp_path / "p.sqlite"
    open_database(path, create=True)[0].dispose()
    os.chmod(path, 0o444)
    project = open_project(path)
    with pytest.raises(DatabaseError, match="read-only"):
        project.set_setting("a", 1)


def test_locked_database_reports_reason(tmp_path, monkeypatch):
    from mammo_annotator.services.project import open_project
    from mammo_annotator.store import engine as engine_mod

    monkeypatch.setattr(engine_mod, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "p.sqlite"
    project = open_project(path, create=True)
    project.set_setting("kept", 1)
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked by another program") as err:
            project.set_setting("a", 1)
        assert str(path) in str(err.value)
    finally:
        other.rollback()
        other.close()
    assert project.setting("kept") == 1 and project.setting("a") is None
    project.set_setting("a", 2)  # works again once the other program lets go
    assert project.setting("a") == 2


def test_writer_and_reader_in_parallel(tmp_path, monkeypatch):
    """WAL: a reader holding an open read transaction neither blocks a writer's commit nor sees
    it until the reader's transaction ends (without WAL the commit would wait for the reader's
    lock and fail as "locked" after the busy timeout)."""
    from mammo_annotator.store import engine as engine_mod

    monkeypatch.setattr(engine_mod, "BUSY_TIMEOUT_MS", 300)
    engine, Session = open_database(tmp_path / "p.sqlite", create=True)
    holding, written = threading.Event(), threading.Event()
    seen: list = []

    def reader():
        raw = engine.raw_connection()
        try:
            con = raw.driver_connection
            con.execute("BEGIN")
            seen.append(con.execute("SELECT count(*) FROM settings").fetchone()[0])  # the read snapshot starts here
            holding.set()
            written.wait(10)
            seen.append(con.execute("SELECT count(*) FROM settings").fetchone()[0])  # same transaction: old snapshot
            con.execute("COMMIT")
            seen.append(con.execute("SELECT count(*) FROM settings").fetchone()[0])
        finally:
            raw.close()

    t = threading.Thread(target=reader)
    t.start()
    try:
        assert holding.wait(10)
        with Session() as s:  # while the reader's transaction is open
            for i in range(20):
                s.execute(text("INSERT INTO settings(key, value_json) VALUES (:k, '1')"), {"k": f"k{i}"})
            s.commit()
    finally:
        written.set()
        t.join(10)
    assert seen == [0, 0, 20]
    with Session() as s:
        assert s.execute(text("SELECT count(*) FROM settings")).scalar() == 20
    engine.dispose()


def test_head_and_current_revision_read_without_alembic_agree_with_it(tmp_path):
    """The version files are read plainly (Alembic is slow to import); the answer is Alembic's."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from mammo_annotator.store.engine import make_engine
    from mammo_annotator.store.revisions import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config(None)).get_current_head()
    engine = make_engine(tmp_path / "blank.sqlite")
    assert schema_revision(engine) is None  # no version table yet
    engine.dispose()
    engine, _ = open_database(tmp_path / "p.sqlite", create=True)
    with engine.connect() as c:
        assert schema_revision(engine) == MigrationContext.configure(c).get_current_revision() == head_revision()
        c.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
        c.commit()
    with pytest.raises(DatabaseError, match="several revisions"):
        schema_revision(engine)
    engine.dispose()


def test_opening_a_project_at_head_does_not_import_alembic(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "p.sqlite"
    open_database(path, create=True)[0].dispose()
    code = ("import sys\nfrom mammo_annotator.services.project import open_project\n"
            f"p = open_project({str(path)!r})\np.close()\nprint('alembic' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"
