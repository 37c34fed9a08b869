"""A shared project meeting databases and states it must refuse or survive, on both backends
(a SQLite file and a real PostgreSQL server)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from mammo_annotator.services import team
from mammo_annotator.services.project import open_project
from mammo_annotator.store.engine import DatabaseError
from mammo_annotator.store.server import make_server_engine


def _engine(target: str):
    return make_server_engine(target) if "://" in target else create_engine(f"sqlite:///{target}")


def test_another_alembic_application_is_named_as_such_and_left_as_it_is(project_target, tmp_path, monkeypatch):
    """Before: 'was written by a newer Mammo Annotator (schema ab12cd34ef56); update the app' for a
    database of another application that also keeps an alembic_version table."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    other = _engine(project_target)
    with other.begin() as c:
        c.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        c.execute(text("INSERT INTO alembic_version VALUES ('ab12cd34ef56')"))
        c.execute(text("CREATE TABLE invoices (id integer)"))
    try:
        with pytest.raises(DatabaseError, match=r"another application \(schema revision ab12cd34ef56, tables invoices\)"):
            open_project(project_target)
        assert sorted(inspect(other).get_table_names()) == ["alembic_version", "invoices"]
    finally:
        other.dispose()


def test_a_newer_project_is_still_called_newer(project_target, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    open_project(project_target, create=True).close()
    engine = _engine(project_target)
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(DatabaseError, match=r"newer Mammo Annotator \(schema 9999_future\)"):
            open_project(project_target)
    finally:
        engine.dispose()


def test_a_lease_on_an_image_deleted_elsewhere_is_a_key_error(project_target, tmp_path, monkeypatch):
    """Before: AttributeError ('NoneType' object has no attribute 'host'): the foreign-key failure
    was taken for the same annotator's other window having inserted the lease first."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project = open_project(project_target, create=True)
    try:
        with pytest.raises(KeyError, match="image 4242: not in the project"):
            team.open_image(project, 4242, "ann")
        assert team.who_is_on(project) == {}
        project.set_setting("still", "writable")  # the session was left usable
        assert project.setting("still") == "writable"
    finally:
        project.close()


def test_a_hung_upgrade_lock_holder_stops_the_wait_with_a_message(pg_url, tmp_path, monkeypatch):
    """Before: pg_advisory_lock waited for ever behind a machine whose app hung while upgrading."""
    from mammo_annotator.store import server

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(server, "MIGRATION_WAIT_S", 1.0)
    other = make_server_engine(pg_url)
    try:
        with other.connect() as hung:
            hung.execute(text("SELECT pg_advisory_lock(:k)"), {"k": server.MIGRATION_LOCK_KEY})
            with pytest.raises(DatabaseError, match="held the project's upgrade lock for over 1 s"):
                open_project(pg_url, create=True)
            hung.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": server.MIGRATION_LOCK_KEY})
        open_project(pg_url, create=True).close()  # the holder is gone: the project opens
    finally:
        other.dispose()
