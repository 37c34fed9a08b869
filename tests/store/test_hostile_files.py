"""Hostile project files, each from the services the app calls and from the command line: a
clear error naming the file and the reason, the file left exactly as it was, nothing half-written.

Real files and real SQLite errors: another application's database, a project truncated to a few
bytes, an empty file, a database that fills up (SQLite's own SQLITE_FULL, through its
``max_page_count`` limit), a write lock held by a real second process.
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from mammo_annotator.services.annotations import save_contour
from mammo_annotator.services.project import INTERACTIVE_BUSY_TIMEOUT_MS, open_project
from mammo_annotator.services.project_guard import backup_now, open_guarded
from mammo_annotator.store.backup import DamagedDatabase
from mammo_annotator.store.engine import DatabaseError
from tests.helpers import add_blank_image

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mammo_annotator", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _project(folder: Path, images: int = 2) -> Path:
    project = open_project(folder / "p.sqlite", create=True)
    for i in range(images):
        add_blank_image(project, patient=f"P{i}", size=(700, 700))
    project.close()
    return folder / "p.sqlite"


def _files(folder: Path) -> dict[str, bytes]:
    """Every file beside the database but the instance lock (created, by design, before the open)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(".lock")}


def _circle(cx: float, cy: float, r: float, n: int = 60) -> list[list[float]]:
    return [[cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n)] for k in range(n)]


# another application's database ------------------------------------------------------------
def test_another_applications_database_is_left_byte_for_byte(tmp_path):
    """It was switched to WAL (a write into its header, and a -wal beside it) before being
    recognised and refused as "left as it is"."""
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE moz_places(id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places(url) VALUES ('https://example.org')")
    conn.commit()
    conn.close()
    before = _files(tmp_path)
    with pytest.raises(DatabaseError, match="is a database of another application") as err:
        open_guarded(other, ask_restore=lambda exc: False)
    assert str(other) in str(err.value)
    for create, read_only in ((False, False), (True, False), (False, True)):
        with pytest.raises(DatabaseError, match="another application"):
            open_project(other, create=create, read_only=read_only)
    cli = _cli("import", "--db", other, tmp_path / "nothing.png")
    assert cli.returncode == 2 and f"{other}: is a database of another application" in cli.stderr, cli.stderr
    assert _files(tmp_path) == before


# a project truncated to a few bytes ----------------------------------------------------------
@pytest.mark.parametrize("size", [1, 9, 300])
def test_a_project_truncated_to_a_few_bytes_is_refused_never_made_a_new_one(tmp_path, size):
    """SQLite reads a file under 10 bytes as an empty database: the app opened it and made a new,
    empty project over the truncated one."""
    path = _project(tmp_path)
    os.truncate(path, size)
    before = _files(tmp_path)
    with pytest.raises(DatabaseError) as err:
        open_guarded(path, ask_restore=lambda exc: False)
    assert str(err.value) == (f"{path}: is not a SQLite database (it is only {size} bytes long, "
                              "too short to hold one (truncated?))")
    cli = _cli("info", "--db", path)
    assert cli.returncode == 2 and f"only {size} bytes long" in cli.stderr, cli.stdout + cli.stderr
    check = _cli("backups", "--check", "--db", path)
    assert check.returncode == 1 and f"only {size} bytes long" in check.stdout, check.stdout + check.stderr
    assert _files(tmp_path) == before


def test_a_truncated_project_with_a_backup_offers_it(tmp_path):
    path = _project(tmp_path)
    good = backup_now(path)
    os.truncate(path, 1)
    with pytest.raises(DamagedDatabase) as err:
        open_guarded(path, ask_restore=lambda exc: False)
    assert err.value.backup == good and "only 1 bytes long" in str(err.value)
    project, note = open_guarded(path, ask_restore=lambda exc: True)
    try:
        assert "Restored the backup" in note and project.session  # the backup is in place, whole
        with project.session() as s:
            assert s.connection().exec_driver_sql("SELECT count(*) FROM images").scalar() == 2
    finally:
        project.close()


# an empty file -----------------------------------------------------------------------------
def test_a_command_that_does_not_create_never_makes_a_project_of_an_empty_file(tmp_path):
    """``export`` (which opens for writing, not creating) made a new project of an empty file."""
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(DatabaseError, match="is empty, not a project yet; it was left as it is"):
        open_project(empty)
    cli = _cli("export", "labels", "--db", empty, "--out", tmp_path / "out")
    assert cli.returncode == 2 and f"{empty}: is empty, not a project yet" in cli.stderr, cli.stderr
    assert empty.stat().st_size == 0 and list(_files(tmp_path)) == ["empty.sqlite"]
    open_project(empty, create=True).close()  # a command that creates (import) still makes one
    assert empty.stat().st_size > 0


# a database that fills up ------------------------------------------------------------------------
@pytest.fixture
def full_after():
    """Once ``room[0]`` is set, every SQLite connection opened may grow its file by only that many
    pages (SQLite's max_page_count: its real 'database or disk is full' error, as on a full disk)."""
    room: list[int | None] = [None]

    def limit(dbapi_conn, _record):
        if room[0] is None:
            return
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + room[0]}")

    event.listen(Engine, "connect", limit)
    yield room
    event.remove(Engine, "connect", limit)


def test_a_save_on_a_full_disk_is_rolled_back_and_says_so(tmp_path, full_after):
    path = _project(tmp_path)
    full_after[0] = 4
    project, _ = open_guarded(path)
    project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)  # as the GUI thread
    saved = 0
    try:
        with pytest.raises(DatabaseError) as err:
            for i in range(10000):
                save_contour(project, 1 + i % 2, _circle(300, 300, 150), "ann")
                saved += 1
        assert saved > 0
        assert str(err.value) == (f"{path}: the disk is full (or the database reached its size limit), so the "
                                  "change was not written: free some space and try again")
    finally:
        project.close()
    conn = sqlite3.connect(path)
    try:  # the failed save left nothing: no contour, no revision, no bumped image revision
        assert conn.execute("SELECT count(*) FROM annotations").fetchone()[0] == saved
        assert conn.execute("SELECT count(*) FROM annotation_revisions").fetchone()[0] == saved
        assert conn.execute("SELECT sum(revision) FROM images").fetchone()[0] == 2 + saved
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_an_import_into_a_full_database_stores_each_image_whole_or_not_at_all(tmp_path, full_after, capsys):
    from PIL import Image

    from mammo_annotator.cli import main

    path = _project(tmp_path, images=0)
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(12):
        pixels = np.zeros((1024, 800), np.uint8)
        pixels[100:900, :600] = 150 + (rng.random((800, 600)) * 60).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"i{k:02d}.png")
    full_after[0] = 1
    status = main(["import", "--db", str(path), str(folder)])
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.strip().startswith("FAILED")]
    assert failed and f"{path}: the disk is full" in failed[0], out
    # the files after it are not tried: each would meet the same full disk
    assert all("not imported: the import stopped" in line for line in failed[1:]), out
    assert status == 1 and "run the import again" in out
    conn = sqlite3.connect(path)
    try:
        images = conn.execute("SELECT count(*) FROM images").fetchone()[0]
        assert images == 12 - len(failed)
        assert conn.execute("SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM region_grids)").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM region_grids WHERE id NOT IN (SELECT grid_id FROM regions)").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM patients WHERE id NOT IN (SELECT patient_id FROM studies)").fetchone()[0] == 0
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# a write lock held by another process ---------------------------------------------------------
_HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE settings SET value_json = value_json")
print("held", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def test_a_contour_saved_while_another_process_holds_the_write_lock_is_refused_then_saved(tmp_path):
    """Held already: the GUI thread waits about 2 s, says why, keeps nothing; later it saves."""
    path = _project(tmp_path)
    project, _ = open_guarded(path)
    project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseError) as err:
            save_contour(project, 1, _circle(300, 300, 100), "ann")
        assert str(err.value) == f"{path}: the database is locked by another program; try again when it has finished"
    finally:
        holder.communicate("", timeout=30)
    try:
        with project.session() as s:
            assert s.connection().exec_driver_sql("SELECT count(*) FROM annotations").scalar() == 0
        save_contour(project, 1, _circle(300, 300, 100), "ann")
    finally:
        project.close()
