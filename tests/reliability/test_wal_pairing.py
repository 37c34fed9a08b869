"""Issue 12's corruption, reproduced: a project file paired with a -wal/-shm that belong to
another database. It happens when the file is replaced while a process has it open (the
example copied again over a live copy) or created next to a stale -wal (the old copy deleted
while its -wal stayed). The app now never does either."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mammo_annotator.services.project import copy_example, example_database, open_project
from mammo_annotator.services.project_guard import open_instance
from mammo_annotator.store.lock import ProjectLocked

from .procs import REPO, integrity, popen_worker


def _wal_connection(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    return con


def _store_version(con, name: str, size: int) -> None:
    con.execute("INSERT INTO model_versions (created_at, name, extractor_key, grid_key, config_json, summary_json, "
                "metrics_json, weights, state, is_active) VALUES (datetime('now'), ?, 'x', 'g', '{}', '{}', '{}', ?, "
                "'done', 0)", (name, os.urandom(size)))


def test_cause_a_file_replaced_under_an_open_connection_is_corrupted(tmp_path):
    """The mechanism itself, on plain SQLite: what the old copy_example could do to a live project."""
    dest = tmp_path / "copy.sqlite"
    shutil.copyfile(example_database(), dest)
    gui = _wal_connection(dest)
    for i in range(3):  # two retrains' weights: past the auto-checkpoint, into the file
        _store_version(gui, f"retrain{i}", 2_000_000)
    _store_version(gui, "retrain3", 20_000)  # more work after the checkpoint: frames over the checkpointed file
    for i in range(20):
        gui.execute("UPDATE settings SET value_json = ? WHERE key = (SELECT key FROM settings LIMIT 1)", (f'"BN{i}"',))
    tmp = tmp_path / "copy.sqlite.tmp"  # another instance copies the example over it
    shutil.copyfile(example_database(), tmp)
    os.replace(tmp, dest)
    other = sqlite3.connect(dest)
    assert other.execute("PRAGMA integrity_check").fetchone()[0] != "ok"  # "database disk image is malformed"
    other.close()
    gui.close()  # the last connection checkpoints into the old, unlinked file, and deletes the -wal
    con = sqlite3.connect(dest)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM model_versions")]
    except sqlite3.DatabaseError as exc:  # still damaged
        assert "malformed" in str(exc)
    else:  # or whole again, without the versions: they vanished from the history
        assert not any(n.startswith("retrain") for n in names)
    finally:
        con.close()


def _count_elsewhere(path, table: str = "settings") -> int:
    """The row count another process sees."""
    out = subprocess.run([sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({str(path)!r}).execute("
                          f"'SELECT count(*) FROM {table}').fetchone()[0])"], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_cause_closing_any_descriptor_of_the_file_drops_the_process_locks(tmp_path):
    """The root cause, on plain SQLite: one open()/close() of the database file by the app's
    process (the old open_database read the header so, for every Project: each retrain opened
    one) drops the POSIX locks of all its connections. The next process that closes its last
    connection (mammo-annotator info / models) then checkpoints and deletes the -wal under the
    app, whose later commits go to a deleted file: other processes no longer see them."""
    path = tmp_path / "p.sqlite"
    app = sqlite3.connect(path, isolation_level=None)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("PRAGMA wal_autocheckpoint=0")
    app.execute("CREATE TABLE settings (k)")
    app.executemany("INSERT INTO settings VALUES (?)", [(i,) for i in range(100)])
    open(path, "rb").close()  # the header check
    assert _count_elsewhere(path) == 100  # a CLI reader comes and goes...
    assert not Path(str(path) + "-wal").exists()  # ...and deleted the app's -wal
    app.executemany("INSERT INTO settings VALUES (?)", [(i,) for i in range(100)])
    assert _count_elsewhere(path) == 100  # the app's next 100 rows: invisible to everyone else
    app.close()


def test_opening_a_project_keeps_the_locks_of_the_ones_already_open(tmp_path):
    """What the app does: a project open (the GUI), another opened in the same process (a
    retrain), CLI readers in between; the GUI's writes stay visible and its -wal in place."""
    from .procs import blank_project, cli

    path = blank_project(tmp_path / "p.sqlite", n_images=1)
    gui = open_project(path)
    try:
        gui.set_setting("before", 1)
        trainer = open_project(path)  # the training queue's own project, in the GUI's process
        trainer.close()
        assert cli("info", "--db", path).returncode == 0  # a reader process opens and closes
        assert Path(str(path) + "-wal").exists()
        before = _count_elsewhere(path)
        for i in range(20):
            gui.set_setting(f"after{i}", i)
        assert _count_elsewhere(path) == before + 20
    finally:
        gui.close()
    assert integrity(path) == "ok"


def _kill_after_writes(path, tmp_path) -> None:
    """A process that stores two model versions and settings, then dies by SIGKILL (its -wal stays)."""
    script = tmp_path / "die.py"
    script.write_text(
        "import os, sqlite3, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from mammo_annotator.services.project import copy_example, open_project\n"
        f"p = open_project(copy_example({str(path)!r}))\n"
        f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "for i in range(3):\n"
        "    c.execute(\"INSERT INTO model_versions (created_at, name, extractor_key, grid_key, config_json, summary_json,"
        " metrics_json, weights, state, is_active) VALUES (datetime('now'), 'v', 'x', 'g', '{}', '{}', '{}', ?, 'done', 0)\","
        " (os.urandom(2000000),))\n"
        "for i in range(30):\n"
        "    p.set_setting(f's{i}', 'BN' * 500)\n"
        "os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, str(script)], cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_a_stale_wal_is_never_paired_with_a_new_copy_of_the_example(tmp_path):
    dest = tmp_path / "data" / "example-project.sqlite"
    _kill_after_writes(dest, tmp_path)
    assert (tmp_path / "data" / "example-project.sqlite-wal").exists()
    dest.unlink()  # the user deletes the copy to start over; its -wal and -shm stay behind
    project = open_project(copy_example(dest))
    try:
        assert project.setting("s3") is None  # nothing of the old database leaked in
    finally:
        project.close()
    assert integrity(dest) == "ok"
    kept = sorted(p.name for p in dest.parent.iterdir() if ".orphan-" in p.name)
    assert len(kept) == 2 and any(k.endswith("-wal") for k in kept)  # moved aside, not deleted


def test_the_example_is_never_copied_over_a_project_an_instance_holds(tmp_path):
    dest = tmp_path / "example-project.sqlite"
    holder = popen_worker("hold", copy_example(dest), 60)
    try:
        assert holder.stdout.readline().startswith("holding")
        with pytest.raises(ProjectLocked, match=f"pid {holder.pid}"):
            copy_example(dest, overwrite=True, wait_s=0.2)
        assert copy_example(dest) == dest  # the ordinary start-up call leaves it alone
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(30)
    assert integrity(dest) == "ok"


def test_simultaneous_first_starts_share_one_copy_and_lose_nothing(tmp_path):
    """Four app starts at the same moment on an empty data folder (the old code crashed some of
    them with FileNotFoundError and could copy over a copy already open)."""
    for round_ in range(1):
        dest = tmp_path / f"r{round_}" / "example-project.sqlite"
        t0 = time.time() + 3.0
        procs = [popen_worker("start-app", dest, k, t0) for k in range(4)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
            outs.append(out)
        acked = {line.split()[1] for out in outs for line in out.splitlines() if line.startswith("ack")}
        writers = sum("read_only=False" in out for out in outs)
        assert writers >= 1 and sum("opened" in out for out in outs) == 4
        assert integrity(dest) == "ok"
        con = sqlite3.connect(dest)
        stored = {r[0] for r in con.execute("SELECT key FROM settings WHERE key LIKE 'k-%'")}
        con.close()
        assert acked <= stored and len(acked) == 5 * writers


def test_a_second_instance_opens_read_only_and_says_who_holds_it(tmp_path):
    from .procs import blank_project, cli, worker_json

    path = blank_project(tmp_path / "p.sqlite")
    project, note = open_instance(path)
    try:
        assert not project.read_only and note is None
        other = worker_json("try", path)
        assert other["read_only"] and f"pid {os.getpid()}" in other["note"] and "read-only" in other["note"]
        for args in (("info",), ("models",)):  # CLI readers keep working while the app holds it
            r = cli(*args, "--db", path)
            assert r.returncode == 0, r.stderr
        r = cli("backups", "--db", path, "--restore")
        assert r.returncode == 2 and "another Mammo Annotator instance" in r.stderr
        project.set_setting("still", "mine")  # the holder keeps writing
    finally:
        project.close()
    assert worker_json("try", path)["read_only"] is False  # released: the next instance gets it


def test_a_lock_left_by_a_killed_instance_is_taken_over(tmp_path):
    from .procs import blank_project

    path = blank_project(tmp_path / "p.sqlite")
    holder = popen_worker("hold", path, 60)
    assert holder.stdout.readline().startswith("holding")
    holder.kill()  # SIGKILL: no clean-up ran
    holder.wait(30)
    project, note = open_instance(path)
    try:
        assert not project.read_only and note is None
        assert project.lock.stale is not None and project.lock.stale.pid == holder.pid
    finally:
        project.close()
    assert integrity(path) == "ok"
