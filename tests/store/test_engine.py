"""The project database: pragmas, migrations, refusal of bad files, concurrency."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest
from sqlalchemy import text

from mammo_annotator.store.engine import DatabaseError, head_revision, open_database, schema_revision


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

    from mammo_annotator.store.engine import alembic_config

    path = tmp_path / "old.sqlite"
    engine, _ = open_database(path, create=True)
    command.downgrade(alembic_config(engine), "0001")
    with engine.begin() as c:
        c.execute(text("INSERT INTO settings (key, value_json) VALUES ('grid', '{\"window\": 224}')"))
    engine.dispose()
    assert sqlite3.connect(path).execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    engine, _ = open_database(path)
    assert schema_revision(engine) == head_revision() == "0003"
    with engine.connect() as c:
        assert c.execute(text("SELECT value_json FROM settings WHERE key='grid'")).scalar() == '{"window": 224}'
        assert c.execute(text("SELECT count(*) FROM extractor_weights")).scalar() == 0


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


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
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


def test_writer_and_reader_in_parallel(tmp_path):
    """WAL: a long read transaction in one thread does not block writes in another."""
    engine, Session = open_database(tmp_path / "p.sqlite", create=True)
    started, done = threading.Event(), threading.Event()

    def reader():
        with Session() as s:
            s.execute(text("SELECT count(*) FROM images")).scalar()
            started.set()
            done.wait(5)

    t = threading.Thread(target=reader)
    t.start()
    started.wait(5)
    with Session() as s:
        for i in range(20):
            s.execute(text("INSERT INTO settings(key, value_json) VALUES (:k, '1')"), {"k": f"k{i}"})
        s.commit()
    done.set()
    t.join()
    with Session() as s:
        assert s.execute(text("SELECT count(*) FROM settings")).scalar() == 20
