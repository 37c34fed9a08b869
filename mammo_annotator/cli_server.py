"""Commands for team use: ``migrate`` (a project to / from a server) and ``import-dicomweb`` (a PACS)."""

from __future__ import annotations

import os
import sys


def cmd_migrate(args, open_project, progress_bar) -> int:
    from .services.migrate import migrate_project

    bar = progress_bar("migrate")
    try:
        report = migrate_project(args.source, args.dest, progress=bar)
    finally:
        bar.close()
    print(report.summary())
    return 0


def register(sub, with_db, open_project, progress_bar) -> None:
    p = sub.add_parser("migrate", help="copy a whole project into another, empty database (e.g. SQLite file -> PostgreSQL)")
    p.add_argument("--from", dest="source", required=True, help="the project to copy: a file or a SQLAlchemy URL")
    p.add_argument("--to", dest="dest", required=True,
                   help="the empty destination: postgresql+psycopg://user@host/db (password from PGPASSWORD / ~/.pgpass) or a new file")
    p.set_defaults(func=lambda args: cmd_migrate(args, open_project, progress_bar))
