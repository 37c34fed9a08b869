"""The schema revision of a project database: which one it records, which is the newest this app
knows, and the refusals of a database no migration of this app may touch.

Apart from ``engine`` (which opens files) so the server projects (``server``) and restores
(``restore``) check revisions the same way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from .database_errors import DatabaseError, shown_name

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


def alembic_config(engine: Engine | None) -> Config:
    """Alembic's configuration for this app's migrations, run on ``engine`` (None: only to read them)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


# Alembic (with every dialect's DDL module) takes a good part of a second to import: a project
# already at the head revision, the usual case, opens without it; it is loaded to migrate.

def schema_revision(engine: Engine) -> str | None:
    """The database's revision (None: no schema yet), read from Alembic's version table."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        revs = list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(revs) > 1:
        raise DatabaseError(shown_name(engine),
                            f"the schema records several revisions ({', '.join(sorted(revs))}); it was not written by this app")
    return revs[0] if revs else None


def foreign_tables(engine: Engine) -> list[str]:
    """The tables of a database that records no schema revision: another application's data,
    which a migration must never write into (it would fail halfway, on a clashing table)."""
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
    return sorted(n for n in names if n != VERSION_TABLE and not n.startswith("sqlite_"))


def refuse_foreign(engine: Engine, shown: object) -> None:
    """Tables but no revision: never migrated into (its CREATE TABLEs would clash halfway)."""
    from .schema import Base

    tables = foreign_tables(engine)
    if tables and set(tables) <= set(Base.metadata.tables):
        raise DatabaseError(shown, "has a project's tables but records no schema revision (its alembic_version "
                                   "table is empty or missing); it was left as it is: restore a backup of it")
    if tables:
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseError(shown, f"is a database of another application (tables {listed}), not a Mammo Annotator "
                                   "project; it was left as it is")


def refuse_unknown_revision(engine: Engine, shown: object, current: str) -> None:
    """A revision no migration of this app names: a newer app's project (it holds our tables), or
    the database of another application that also uses Alembic (it holds none of them); both
    are left as they are, each named as what it is."""
    from .schema import Base

    if known_revision(current):
        return
    tables = foreign_tables(engine)
    if tables and not set(tables) & set(Base.metadata.tables):
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseError(shown, f"is a database of another application (schema revision {current}, tables {listed}), "
                                   "not a Mammo Annotator project; it was left as it is")
    raise DatabaseError(shown, f"was written by a newer Mammo Annotator (schema {current}); update the app")


def head_revision() -> str:
    """The newest migration: the one revision no other revises, read from the version files
    (what Alembic's ScriptDirectory answers, which a test checks); Alembic itself when the files
    do not read plainly."""
    graph = _revision_graph()
    heads = set(graph) - {d for downs in graph.values() for d in downs} if graph else set()
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def _revision_graph() -> dict[str, tuple[str, ...]] | None:
    """revision -> the revisions it follows, from each version file's literal assignments."""
    graph: dict[str, tuple[str, ...]] = {}
    for f in sorted((MIGRATIONS / "versions").glob("*.py")):
        source = f.read_text(encoding="utf-8")
        found = {k: re.search(rf"^{k}\s*(?::[^=]+)?=\s*(.+?)\s*$", source, re.M) for k in ("revision", "down_revision")}
        if not all(found.values()):
            return None
        try:
            rev = ast.literal_eval(found["revision"].group(1))
            down = ast.literal_eval(found["down_revision"].group(1))
        except (ValueError, SyntaxError):
            return None
        if not isinstance(rev, str) or not (down is None or isinstance(down, (str, tuple, list))):
            return None
        graph[rev] = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    return graph or None


def known_revision(rev: str) -> bool:
    """Whether some migration of this app names ``rev`` (an older or the current schema)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None))
    try:
        return script.get_revision(rev) is not None
    except Exception:
        return False
