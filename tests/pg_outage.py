"""A private PostgreSQL for outage tests: stopped, restarted or frozen mid-session.

The session-wide server of ``conftest.pg_server`` is shared by every test, so a test that takes
its server away starts its own. ``halt`` shuts it down as an administrator would (clients get
"connection refused"); ``freeze`` stops its processes (SIGSTOP), which is what a machine that
vanished from the network looks like to a client: connections open, nothing answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import pg_server as pg


@pytest.fixture
def private_pg(monkeypatch):
    """A PostgreSQL server of this test's own (its outage harms no other test), removed afterwards."""
    if not (pg.find_bin("initdb") and pg.find_bin("pg_ctl")):
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    server = pg.start()
    monkeypatch.setenv("PGPASSFILE", str(server.pgpass))
    yield server
    try:
        for pid in _pids(server):  # a server left frozen would never stop
            os.kill(pid, signal.SIGCONT)
    except (OSError, ValueError):
        pass  # halted: no postmaster
    pg.stop(server)


def halt(server: pg.PgServer) -> None:
    """Shut the server down (fast: sessions are ended and their transactions rolled back); the data stays."""
    subprocess.run(pg._cmd(server.run_as, [pg.find_bin("pg_ctl"), "-D", str(server.folder / "data"), "-m", "fast", "-w", "stop"]),
                   capture_output=True, text=True, check=True)


@contextmanager
def halted_inside_second_image(server: pg.PgServer, target):
    """Within the block, the server is shut down inside the second image an import writes: its
    image row written, its regions not yet, its transaction open. ``target`` is an Engine, or the
    Engine class for engines made inside the block (the command line's). Yields the statements
    seen, with "halt" where the server went."""
    from sqlalchemy import event

    seen: list[str] = []

    def hook(_conn, _cursor, statement, *_args) -> None:
        sql = statement.lstrip().upper()
        if sql.startswith("INSERT INTO IMAGES"):
            seen.append(sql)
        elif sql.startswith("INSERT INTO REGIONS") and len(seen) == 2 and "halt" not in seen:
            seen.append("halt")
            halt(server)

    event.listen(target, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", hook)


def resume(server: pg.PgServer) -> None:
    """Start a halted server again on its port."""
    opts = f"-p {server.port} -k {server.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(pg._cmd(server.run_as, [pg.find_bin("pg_ctl"), "-D", str(server.folder / "data"), "-o", opts,
                                           "-l", str(server.folder / "log"), "-w", "-t", "60", "start"]),
                   capture_output=True, text=True, check=True)


def _pids(server: pg.PgServer) -> list[int]:
    """The postmaster and every process it started (the sessions' backends among them)."""
    main = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
    out = [main]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == main:
            out.append(int(stat.parent.name))
    return out


class Frozen:
    """The server's processes stopped; ``thaw()`` (idempotent) lets them go on. ``thaw_after_s``
    thaws by itself as a safety net, so a test of code that would block for ever ends anyway."""

    def __init__(self, server: pg.PgServer, thaw_after_s: float = 15.0) -> None:
        self.pids = _pids(server)
        self._lock = threading.Lock()
        self._frozen = True
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)
        self._timer = threading.Timer(thaw_after_s, self.thaw)
        self._timer.daemon = True
        self._timer.start()

    def thaw(self) -> None:
        with self._lock:
            if not self._frozen:
                return
            self._frozen = False
            self._timer.cancel()
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass


def freeze(server: pg.PgServer, thaw_after_s: float = 15.0) -> Frozen:
    return Frozen(server, thaw_after_s)
