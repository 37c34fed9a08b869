"""A project on a real PostgreSQL server: URL handling, migrations, password never in the URL."""

import pytest
from sqlalchemy import inspect

from mammo_annotator.store.engine import DatabaseError, open_database
from mammo_annotator.store.revisions import head_revision, schema_revision
from mammo_annotator.store.server import display_url, is_url, sqlite_path_of
from mammo_annotator.services.project import open_project


def test_url_recognition_and_masking():
    assert is_url("postgresql+psycopg://ann@db.example/breast")
    assert not is_url("/data/p.sqlite") and not is_url("p.sqlite")
    assert display_url("postgresql+psycopg://ann:secret@db/x") == "postgresql+psycopg://ann:***@db/x"
    assert sqlite_path_of("sqlite:///some/p.sqlite") == "some/p.sqlite"
    assert sqlite_path_of("postgresql://db/x") is None


def test_password_in_url_refused():
    with pytest.raises(DatabaseError, match="PGPASSWORD or ~/.pgpass") as err:
        open_database("postgresql+psycopg://ann:secret@127.0.0.1:1/x")
    assert "secret" not in str(err.value)


def test_unsupported_url_refused():
    with pytest.raises(DatabaseError, match="unsupported database"):
        open_database("mysql://ann@127.0.0.1/x")


def test_unreachable_server_explained():
    with pytest.raises(DatabaseError, match="cannot reach the database server"):
        open_database("postgresql+psycopg://ann@127.0.0.1:1/x")


def test_sqlite_url_opens_the_file(tmp_path):
    p = open_project(f"sqlite:///{tmp_path / 'u.sqlite'}", create=True)
    try:
        assert not p.is_server and p.path == tmp_path / "u.sqlite" and p.path.is_file()
    finally:
        p.close()


def test_migrations_create_the_same_tables_on_both(pg_url, tmp_path):
    pg_engine, _ = open_database(pg_url)
    lite_engine, _ = open_database(tmp_path / "p.sqlite", create=True)
    try:
        assert schema_revision(pg_engine) == head_revision() == schema_revision(lite_engine)
        pg_tables, lite_tables = set(inspect(pg_engine).get_table_names()), set(inspect(lite_engine).get_table_names())
        assert pg_tables == lite_tables and "annotations" in pg_tables
        cols = {c["name"]: c["type"] for c in inspect(pg_engine).get_columns("features")}
        assert type(cols["data"]).__name__ == "BYTEA"  # large values as bytea on PostgreSQL
    finally:
        pg_engine.dispose()
        lite_engine.dispose()


def test_server_project_reopens_and_hides_password(pg_url, monkeypatch, tmp_path):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(pg_url)
    try:
        assert p.is_server and p.location == pg_url
        p.set_setting("k", {"v": 1})
    finally:
        p.close()
    q = open_project(pg_url)
    try:
        assert q.setting("k") == {"v": 1}
        assert str(tmp_path / "cache") in str(q.path)
    finally:
        q.close()


def test_wrong_password_explained(pg_server, pg_url, tmp_path, monkeypatch):
    bad = tmp_path / "pgpass"
    bad.write_text(f"127.0.0.1:{pg_server.port}:*:mammo:wrong\n")
    bad.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(bad))
    with pytest.raises(DatabaseError, match="refused the login"):
        open_database(pg_url)


def test_password_from_environment(pg_url, monkeypatch, tmp_path):
    from tests.pg_server import PASSWORD

    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    engine, _ = open_database(pg_url)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_tables_of_the_code(backend, request, tmp_path):
    """Autogenerate finds nothing to add: the migrations build exactly the schema the code uses,
    on both backends (and downgrade to the first schema, then up again, works on both)."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mammo_annotator.store.revisions import alembic_config
    from mammo_annotator.store.schema import Base

    target = str(tmp_path / "p.sqlite") if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine, _ = open_database(target, create=True)
    try:
        command.downgrade(alembic_config(engine), "0001")
        command.upgrade(alembic_config(engine), "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_of_another_application_is_refused_and_left_as_it_is(backend, request, tmp_path):
    """Opening it once (even for `info`) used to run the migrations into it: they stopped halfway
    on its table named like ours, and left our tables beside its own."""
    from sqlalchemy import create_engine, text

    from mammo_annotator.store.server import make_server_engine

    if backend == "sqlite":
        target = str(tmp_path / "other.sqlite")
        other = create_engine(f"sqlite:///{target}")
    else:
        target = request.getfixturevalue("pg_url")
        other = make_server_engine(target)
    with other.begin() as c:
        c.execute(text("CREATE TABLE images (id integer)"))
        c.execute(text("CREATE TABLE invoices (id integer)"))
    try:
        with pytest.raises(DatabaseError, match=r"another application \(tables images, invoices\)"):
            open_project(target)
        assert sorted(inspect(other).get_table_names()) == ["images", "invoices"]
    finally:
        other.dispose()


def test_server_connections_drop_a_server_that_vanished_from_the_network(pg_url):
    """Keepalives and a TCP user timeout on every pooled connection: without them a query on a
    socket whose server went silent (a lost network, not a refused port) waits for the kernel's
    default, about 15 minutes, while a team project's lease or poll hangs on it."""
    from mammo_annotator.store.server import make_server_engine

    engine = make_server_engine(pg_url)
    try:
        with engine.connect() as conn:
            params = conn.connection.driver_connection.info.get_parameters()
    finally:
        engine.dispose()
    assert params.get("keepalives") == "1"
    assert 0 < int(params["keepalives_idle"]) <= 60
    assert 0 < int(params["tcp_user_timeout"]) <= 120_000
    assert params.get("connect_timeout") == "10"
