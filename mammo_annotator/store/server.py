"""A project on a database server (PostgreSQL): open by SQLAlchemy URL, migrate, explain errors.

The password never travels in the URL: libpq reads it from ``PGPASSWORD`` or ``~/.pgpass``
(``PGPASSFILE``), so nothing the app writes down (settings, recent projects, logs) holds it.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

SERVER_SCHEMES = ("postgresql",)
MIGRATION_LOCK_KEY = 0x6D616D6D6F  # "mammo": one migrating process per database at a time
MIGRATION_WAIT_S = 120.0  # an upgrade takes seconds; a holder this long has hung (one that died frees it)


def is_url(target: object) -> bool:
    """True for a SQLAlchemy URL (``dialect[+driver]://...``), False for a file path."""
    return isinstance(target, str) and "://" in target


def is_server_url(target: object) -> bool:
    return is_url(target) and str(target).split(":", 1)[0].split("+", 1)[0] in SERVER_SCHEMES


def display_url(url: str) -> str:
    """The URL as shown to users: never a password, even when one was typed in."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def sqlite_path_of(url: str) -> str | None:
    """The file of a ``sqlite:///file`` URL (then the project opens as a file), else None.

    ``%xx`` in the URL are decoded (``%3F`` is ``?``). A ``?`` itself is refused: SQLAlchemy
    reads what follows as options and drops a bare ``?name``, so ``sqlite:///new?x.sqlite``
    would open a file named ``new``.
    """
    try:
        u = make_url(url)
    except ArgumentError:
        return None
    if u.get_backend_name() != "sqlite" or not u.database:
        return None
    if "?" in url:
        from .engine import DatabaseError

        raise DatabaseError(url, "a sqlite:/// URL takes no '?' options; give the file path itself "
                                 "(or write '?' in a file name as %3F)")
    return u.database


# libpq settings: a server that vanishes from the network (cable, VPN, sleep) leaves an open
# socket that nothing answers; without keepalives and a TCP user timeout a query on it waits
# for the kernel's default of about 15 minutes, and a pooled connection never notices.
CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms of unacknowledged data before the connection is dropped
}


def make_server_engine(url: str) -> Engine:
    """An engine for a PostgreSQL URL; refuses a password written in the URL."""
    from .engine import DatabaseError

    shown = display_url(url)
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(url, f"not a database URL ({exc})") from exc
    if u.password:
        raise DatabaseError(shown, "the URL holds a password; put it in PGPASSWORD or ~/.pgpass instead (it is never stored)")
    if u.get_backend_name() not in SERVER_SCHEMES:
        raise DatabaseError(shown, f"unsupported database {u.get_backend_name()!r} (a file path or postgresql+psycopg://user@host/db)")
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")  # the driver the app ships with
    try:
        return create_engine(u, pool_pre_ping=True, pool_size=4, max_overflow=4, connect_args=CONNECT_ARGS)
    except NoSuchModuleError as exc:
        raise DatabaseError(shown, f"no driver for {u.drivername} ({exc})") from exc


def _take_migration_lock(conn, shown: str) -> None:
    """The upgrade lock, waited for at most ``MIGRATION_WAIT_S``: pg_advisory_lock waits for ever,
    so a machine whose app hung while upgrading kept every other one from opening the project."""
    import time

    from .engine import DatabaseError

    deadline = time.monotonic() + MIGRATION_WAIT_S
    while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}).scalar():
        if time.monotonic() > deadline:
            raise DatabaseError(shown, f"another machine has held the project's upgrade lock for over {MIGRATION_WAIT_S:g} s "
                                       "(an upgrade takes seconds: it has probably hung); open the project again once it "
                                       "is done, or close the app there, or end its session on the server")
        time.sleep(0.25)


def open_server_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Connect, and bring the schema to head with the same Alembic migrations as SQLite files.

    An advisory lock keeps two machines opening a new or older project at once from both
    migrating it.
    """
    from .engine import DatabaseError
    from .revisions import alembic_config, head_revision, refuse_foreign, refuse_unknown_revision, schema_revision

    shown = display_url(url)
    engine = make_server_engine(url)
    try:
        head = head_revision()
        if schema_revision(engine) != head:
            with engine.connect() as conn:
                _take_migration_lock(conn, shown)
                try:
                    current = schema_revision(engine)
                    if current is None:
                        refuse_foreign(engine, shown)
                    if current is not None and current != head:
                        refuse_unknown_revision(engine, shown, current)
                    if current != head:
                        from alembic import command  # only to migrate: it is slow to import

                        command.upgrade(alembic_config(engine), "head")
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    conn.commit()
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseError(shown, explain_server_error(exc)) from exc
    except DatabaseError:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)


def unwritable_tables(engine: Engine) -> list[str]:
    """The project's tables the connected role may not change (a reviewer given SELECT only):
    such a project is opened read-only with a note, instead of failing at every save."""
    from .schema import Base

    query = text("SELECT t FROM unnest(CAST(:names AS text[])) AS t WHERE to_regclass(t) IS NOT NULL AND NOT ("
                 "has_table_privilege(to_regclass(t), 'INSERT') AND has_table_privilege(to_regclass(t), 'UPDATE') "
                 "AND has_table_privilege(to_regclass(t), 'DELETE')) ORDER BY t")
    with engine.connect() as conn:
        return list(conn.execute(query, {"names": sorted(Base.metadata.tables)}).scalars())


def explain_server_error(exc: DBAPIError) -> str:
    """A driver error in words a user can act on (the server's own message kept at the end)."""
    text_ = str(exc.orig) if exc.orig is not None else str(exc)
    first = text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__
    low = text_.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return f"the server refused the login (set PGPASSWORD or add a line to ~/.pgpass): {first}"
    if "does not exist" in low and "database" in low:
        return f"no such database on the server (ask its administrator to create it): {first}"
    if "connection refused" in low or "could not connect" in low or "timeout" in low:
        return f"cannot reach the database server: {first}"
    return first


def server_side_folder(url: str):
    """A per-machine folder for a server project's side files (e.g. trained extractors' scratch),
    named after host, port and database; the password-free URL is the only input."""
    import hashlib
    import os
    from pathlib import Path

    from platformdirs import user_cache_dir

    u = make_url(url)
    digest = hashlib.sha256(display_url(url).encode()).hexdigest()[:12]
    name = f"{u.host or 'local'}_{u.port or 5432}_{u.database or 'db'}_{digest}"
    root = os.environ.get("MAMMO_ANNOTATOR_CACHE") or user_cache_dir("mammo-annotator", appauthor=False)
    folder = Path(root) / "servers" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "project"
