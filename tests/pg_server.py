"""A real, throw-away PostgreSQL server for the tests: initdb in a temp folder, a free local port.

Run as an unprivileged user when the tests run as root (postgres refuses root): the ``postgres``
account the Debian package creates. Password authentication (scram) is on, and the password
reaches libpq through a generated pgpass file (``PGPASSFILE``), as a user's ``~/.pgpass`` would.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

USER = "mammo"
PASSWORD = "test-" + uuid.uuid4().hex[:12]


def find_bin(name: str) -> str | None:
    """The server binary: on PATH, or where Debian's ``postgresql`` package puts it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    folder: Path
    port: int
    run_as: str | None
    pgpass: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname="postgres", autocommit=True) as c:
            c.execute(sql)

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cmd(run_as: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", run_as, "--", *argv] if run_as else argv


def start() -> PgServer:
    """initdb + pg_ctl start; raises RuntimeError with the server's log when it does not come up."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="mammo-pg-"))
    data, pwfile = folder / "data", folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if run_as:
        shutil.chown(folder, user=run_as)
        shutil.chown(pwfile, user=run_as)
    subprocess.run(_cmd(run_as, [initdb, "-D", str(data), "-U", USER, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                                 "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, text=True)
    port = free_port()
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    proc = subprocess.run(_cmd(run_as, [pg_ctl, "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w", "-t", "60", "start"]),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {proc.stderr}\n{log}")
    pgpass = folder / "pgpass"
    pgpass.write_text(f"127.0.0.1:{port}:*:{USER}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    return PgServer(folder, port, run_as, pgpass)


def stop(server: PgServer) -> None:
    pg_ctl = find_bin("pg_ctl")
    subprocess.run(_cmd(server.run_as, [pg_ctl, "-D", str(server.folder / "data"), "-m", "fast", "-w", "stop"]),
                   capture_output=True, text=True)
    shutil.rmtree(server.folder, ignore_errors=True)
