"""A shared project opened with a database role that may only read (a reviewer's): read-only
with a note that says why, and a save says the same, instead of "permission denied" at each edit."""

from __future__ import annotations

import os

import psycopg
import pytest

from mammo_annotator.services.project import open_project
from mammo_annotator.services.project_guard import open_instance
from mammo_annotator.store.engine import DatabaseError
from tests import pg_server as pg


@pytest.fixture
def reader_url(pg_server, pg_url, tmp_path, monkeypatch):
    """The project made by its owner; then a login role granted SELECT only."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    open_project(pg_url, create=True).close()
    database = pg_url.rsplit("/", 1)[1]
    role = "reader_" + database[2:10]
    pg_server.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{pg.PASSWORD}'")
    with psycopg.connect(host="127.0.0.1", port=pg_server.port, user=pg.USER, password=pg.PASSWORD, dbname=database,
                         autocommit=True) as c:
        c.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    with open(os.environ["PGPASSFILE"], "a") as f:
        f.write(f"127.0.0.1:{pg_server.port}:*:{role}:{pg.PASSWORD}\n")
    yield pg_url.replace(f"//{pg.USER}@", f"//{role}@")
    pg_server.admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg_server.admin(f"DROP ROLE IF EXISTS {role}")


def test_a_select_only_role_opens_read_only_with_a_note(reader_url):
    project, note = open_instance(reader_url)
    try:
        assert project.read_only and note is not None
        assert "may only read it" in note and "Opened read-only" in note
        assert project.grid_spec() is not None  # reading works
        with pytest.raises(DatabaseError, match="is open read-only here: your database role may only read it"):
            project.set_setting("x", 1)
    finally:
        project.close()


def test_the_owner_opens_the_same_project_writable(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, note = open_instance(pg_url, create=True)
    try:
        assert note is None and not project.read_only
        project.set_setting("x", 1)
    finally:
        project.close()
