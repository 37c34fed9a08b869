"""The project database's errors: each names the file (or a server's URL without password) and
why, in words a reader can act on, rather than the driver's own message.

Apart from ``engine`` so the schema checks (``revisions``) raise them without importing the opener.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from ..core.errors import MammoError


class DatabaseError(MammoError):
    """The project database cannot be opened or written; names the file and why."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NeedsUpgrade(DatabaseError):
    """A read-only open met an older schema (reading it needs the migration first)."""


def shown_name(engine: Engine) -> str:
    """What error messages call a database: a SQLite engine's plain file path, a server's
    URL without password."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        return engine.url.database
    return engine.url.render_as_string(hide_password=True)


def explain_error(exc: DBAPIError) -> str:
    """A driver error as a reason a reader can act on (see ``explain_text``)."""
    return explain_text(str(exc.orig) if exc.orig is not None else str(exc))


def explain_text(text: str) -> str:
    """SQLite's message turned into what to do about it; an unknown one is passed on as it is."""
    if "readonly" in text or "read-only" in text:
        return "the database is read-only (check the file's permissions)"
    if "locked" in text:
        return "the database is locked by another program; try again when it has finished"
    if "database or disk is full" in text:
        return ("the disk is full (or the database reached its size limit), so the change was not written: "
                "free some space and try again")
    if "unable to open" in text:
        return "the database file cannot be opened (missing folder or no permission)"
    if "malformed" in text or "disk I/O" in text or "not a database" in text:
        return f"the database file is damaged or unreadable ({text}); reopen it to be offered the last good backup"
    return text


def explain_operational_error(path: str | os.PathLike, exc: OperationalError) -> DatabaseError:
    """Turn a driver error during work into a message that names the file and the reason."""
    return DatabaseError(path, explain_error(exc))
