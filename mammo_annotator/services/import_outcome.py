"""How one file of an import batch ends when it fails, and the keys a database takes.

A failing file is recorded by kind, named with its reason, and the batch goes on; a failure of
the project's database that every next file would meet too (a server gone, a file locked by
another program, a full or read-only disk) stops the batch instead.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from sqlalchemy.exc import OperationalError

from ..core.errors import MammoError
from ..store.engine import DatabaseError

if TYPE_CHECKING:
    from .importing import ImportReport
    from .project import Project

log = logging.getLogger("mammo_annotator.services.importing")


@contextmanager
def outcome(project: Project, path: str, report: ImportReport) -> Iterator[None]:
    """A failure of one file, recorded in ``report`` by kind; the batch goes on (or stops, when
    the project's database is what failed)."""
    try:
        yield
    except DatabaseError as exc:  # the project's database, not the file: named (its transaction was rolled back)
        report.failed.append((path, f"not stored in {exc}"))
        if stops_the_batch(project, exc):
            report.stopped = str(exc)  # every next file would wait for the same answer (15 s each when locked)
    except MammoError as exc:
        report.failed.append((path, getattr(exc, "reason", None) or str(exc)))
    except (OSError, ValueError) as exc:
        report.failed.append((path, f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # a bug or a case nobody foresaw: this file fails, the batch goes on
        log.exception("unexpected error importing %s", path)
        report.failed.append((path, f"unexpected error ({type(exc).__name__}: {exc}); details in the log"))


def stops_the_batch(project: Project, exc: DatabaseError) -> bool:
    """A failure of the project's database that every next file would meet too: a server that is
    unreachable or shut down, a file locked by another program (each file would wait the whole
    busy timeout first), a full disk, a file that became read-only."""
    cause = exc.__cause__
    if not isinstance(cause, OperationalError):
        return False
    if project.is_server:
        return True
    text = str(cause).lower()
    return any(word in text for word in ("locked", "is full", "readonly", "read-only", "disk i/o"))


KEY_MAX = 128  # the patient and study key columns; PostgreSQL refuses a longer value


def fit_key(key: str, what: str, path: str, report: ImportReport) -> str:
    """A key the database takes: a longer one (a file name of 200 characters, a CSV's patient id)
    failed the import on PostgreSQL only; it is cut, with a digest of the whole so that two long
    keys sharing their beginning stay two patients."""
    if len(key) <= KEY_MAX:
        return key
    short = key[:KEY_MAX - 17] + "~" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    report.warnings.append((path, f"the {what} key is {len(key)} characters long; stored as '{short}'"))
    return short
