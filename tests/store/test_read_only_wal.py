"""A WAL project on a read-only disk or folder without its -shm file: read complete, read-only and
saying so, or refused saying why; never shown without its last committed changes.

Real read-only folders: as root (where chmod stops nothing) a read-only bind mount in a private
mount namespace (``unshare -m``); as another user, the folder chmod 555. The ``store.wal`` tests
need neither: they compare its verdict with what SQLite itself reads.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mammo_annotator.services.project import open_project
from mammo_annotator.store import wal

REPO = Path(__file__).resolve().parents[2]


def _ro_mount_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / / 2>/dev/null || exit 1"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


RO_MOUNT = _ro_mount_works()
needs_read_only_folder = pytest.mark.skipif(os.geteuid() == 0 and not RO_MOUNT,
                                            reason="root ignores chmod, and no read-only bind mount (unshare) here")


def _run_read_only(folder: Path, tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``python argv`` with ``folder`` read-only (argv may name files as {ro}/name), importing
    this checkout's package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if RO_MOUNT:
        mnt = tmp_path / "ro"
        mnt.mkdir(exist_ok=True)
        args = " ".join(f"'{a.format(ro=mnt)}'" for a in argv)
        inner = f"mount --bind -o ro '{folder}' '{mnt}' && '{sys.executable}' {args}"
        return subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True, timeout=120,
                              cwd=REPO, env=env)
    modes = {p: p.stat().st_mode for p in (folder, *folder.iterdir())}
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return subprocess.run([sys.executable, *(a.format(ro=folder) for a in argv)], capture_output=True, text=True,
                              timeout=120, cwd=REPO, env=env)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


_OPEN = """
import sys
from mammo_annotator.services.project_guard import open_instance
from mammo_annotator.store.engine import DatabaseError
try:
    project, note = open_instance(sys.argv[1])
except DatabaseError as exc:
    print("REFUSED", exc)
    raise SystemExit(0)
print("READ_ONLY", project.read_only, "SNAPSHOT", project.snapshot)
print("NOTE", note)
print("KEPT", project.setting("kept"))
try:
    project.set_setting("x", 1)
except DatabaseError as exc:
    print("WRITE", exc)
project.close()
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _project(folder: Path, name: str = "p.sqlite") -> Path:
    """A closed WAL project (SQLite checkpointed and removed its -wal and -shm) with kept=1."""
    folder.mkdir(exist_ok=True)
    project = open_project(folder / name, create=True)
    project.set_setting("kept", 1)
    project.close()
    Path(f"{folder / name}.lock").unlink(missing_ok=True)
    assert not Path(f"{folder / name}-wal").exists() and not Path(f"{folder / name}-shm").exists()
    return folder / name


def _copy_while_written(src: Path, dest: Path, checkpoint: bool) -> None:
    """``dest`` (and its -wal, no -shm): ``src`` copied while a program had just committed kept=2
    into its -wal, as a copy made while the app runs; ``checkpoint``: after SQLite had also
    written that change into the file (the -wal still holds it)."""
    conn = sqlite3.connect(src)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("UPDATE settings SET value_json='2' WHERE key='kept'")
        conn.commit()
        if checkpoint:
            assert conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
        shutil.copy(src, dest)
        shutil.copy(f"{src}-wal", f"{dest}-wal")
    finally:
        conn.close()


# the app (open_instance) and the CLI on a real read-only folder ------------------------------
@needs_read_only_folder
def test_a_closed_wal_project_on_a_read_only_folder_opens_read_only_saying_why(tmp_path):
    db = _project(tmp_path / "share")
    script = tmp_path / "open.py"
    script.write_text(_OPEN)
    before = _files(db.parent)
    run = _run_read_only(db.parent, tmp_path, [str(script), "{ro}/p.sqlite"])
    assert run.returncode == 0, run.stderr
    assert "READ_ONLY True SNAPSHOT True" in run.stdout, run.stdout
    assert "KEPT 1" in run.stdout
    assert "Opened read-only here" in run.stdout and "read as it was when opened" in run.stdout
    assert "WRITE" in run.stdout and "open read-only here" in run.stdout and "nothing is saved" in run.stdout
    assert _files(db.parent) == before  # nothing written, no -shm or -wal left


@needs_read_only_folder
def test_the_cli_reads_it_and_warns_and_a_writing_command_is_refused_before_any_work(tmp_path):
    db = _project(tmp_path / "share")
    before = _files(db.parent)
    info = _run_read_only(db.parent, tmp_path, ["-m", "mammo_annotator", "info", "--json", "--db", "{ro}/p.sqlite"])
    assert info.returncode == 0, info.stderr
    assert '"images": 0' in info.stdout
    assert "opened read-only" in info.stderr and "read as it was when opened" in info.stderr
    check = _run_read_only(db.parent, tmp_path, ["-m", "mammo_annotator", "backups", "--check", "--db", "{ro}/p.sqlite"])
    assert check.returncode == 0 and "integrity ok" in check.stdout, check.stdout + check.stderr
    imported = _run_read_only(db.parent, tmp_path, ["-m", "mammo_annotator", "import", "--db", "{ro}/p.sqlite", str(db)])
    assert imported.returncode != 0
    assert "p.sqlite: the file is not writable" in imported.stderr and "nothing was done" in imported.stderr
    assert "Traceback" not in info.stderr + check.stderr + imported.stderr
    assert _files(db.parent) == before


@needs_read_only_folder
def test_a_wal_holding_changes_the_file_lacks_is_refused_never_shown_stale(tmp_path):
    src = _project(tmp_path / "src")
    share = tmp_path / "share"
    share.mkdir()
    _copy_while_written(src, share / "p.sqlite", checkpoint=False)
    script = tmp_path / "open.py"
    script.write_text(_OPEN)
    run = _run_read_only(share, tmp_path, [str(script), "{ro}/p.sqlite"])
    assert "REFUSED" in run.stdout and "KEPT" not in run.stdout, run.stdout
    assert "p.sqlite: the file is not writable" in run.stdout
    assert "its -wal file holds 1 committed transaction(s) not yet written into the database file" in run.stdout
    assert "it was not opened" in run.stdout
    for argv in (["info", "--db", "{ro}/p.sqlite"], ["backups", "--check", "--db", "{ro}/p.sqlite"]):
        cli = _run_read_only(share, tmp_path, ["-m", "mammo_annotator", *argv])
        assert cli.returncode != 0 and "committed transaction(s) not yet written" in cli.stderr, cli.stdout + cli.stderr
        assert "Traceback" not in cli.stderr and "images" not in cli.stdout


@needs_read_only_folder
@pytest.mark.parametrize("wal_file", ["checkpointed", "garbage"])
def test_a_wal_the_file_already_holds_or_sqlite_ignores_is_read_complete(tmp_path, wal_file):
    src = _project(tmp_path / "src")
    share = tmp_path / "share"
    share.mkdir()
    if wal_file == "checkpointed":
        _copy_while_written(src, share / "p.sqlite", checkpoint=True)
        want = "KEPT 2"
    else:
        shutil.copy(src, share / "p.sqlite")
        Path(f"{share / 'p.sqlite'}-wal").write_bytes(os.urandom(5000))
        want = "KEPT 1"
    script = tmp_path / "open.py"
    script.write_text(_OPEN)
    run = _run_read_only(share, tmp_path, [str(script), "{ro}/p.sqlite"])
    assert "READ_ONLY True SNAPSHOT True" in run.stdout and want in run.stdout, run.stdout + run.stderr


@needs_read_only_folder
def test_a_wal_project_with_its_shm_on_a_read_only_folder_reads_its_wal(tmp_path):
    """-shm present (copied along): SQLite reads the -wal itself; no snapshot needed."""
    src = _project(tmp_path / "src")
    share = tmp_path / "share"
    share.mkdir()
    conn = sqlite3.connect(src)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("UPDATE settings SET value_json='2' WHERE key='kept'")
        conn.commit()
        for side in ("", "-wal", "-shm"):
            shutil.copy(f"{src}{side}", f"{share / 'p.sqlite'}{side}")
    finally:
        conn.close()
    script = tmp_path / "open.py"
    script.write_text(_OPEN)
    run = _run_read_only(share, tmp_path, [str(script), "{ro}/p.sqlite"])
    assert "READ_ONLY True SNAPSHOT False" in run.stdout and "KEPT 2" in run.stdout, run.stdout + run.stderr


# store.wal against SQLite itself (no read-only folder needed) -------------------------------
def _sqlite_reads(db: Path, immutable: bool = False) -> list[str]:
    """What SQLite reads from ``db``: with its -wal (in a writable folder: recovery runs), or
    ``immutable``, the file alone."""
    conn = sqlite3.connect(f"file:{db}?mode=ro" + ("&immutable=1" if immutable else ""), uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_wal_content_agrees_with_sqlite_at_every_stage(tmp_path):
    """Copies taken while writing, checkpointing and truncating: the verdict 'the file is
    complete without its -wal' holds exactly when SQLite reads the same with and without it."""
    live = tmp_path / "live.sqlite"
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    stages = []

    def snap(name: str) -> None:
        d = tmp_path / name
        d.mkdir()
        shutil.copy(live, d / "c.sqlite")
        if Path(f"{live}-wal").exists():
            shutil.copy(f"{live}-wal", d / "c.sqlite-wal")
        stages.append(d / "c.sqlite")

    snap("created")
    for k in range(3):
        conn.executemany("INSERT INTO t VALUES (?)", [(k * 1000 + i,) for i in range(300)])
        conn.commit()
        snap(f"written{k}")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    snap("checkpointed")
    conn.execute("DELETE FROM t WHERE x % 2 = 0")
    conn.commit()
    snap("deleted")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    snap("truncated")
    conn.close()
    verdicts = {}
    for db in stages:
        content = wal.wal_content(db)
        alone, full = _sqlite_reads(db, immutable=True), _sqlite_reads(db)
        verdicts[db.parent.name] = content.complete_without_wal
        assert content.complete_without_wal == (alone == full), (db.parent.name, content)
    assert verdicts == {"created": False, "written0": False, "written1": False, "written2": False,
                        "checkpointed": True, "deleted": False, "truncated": True}
    assert wal.wal_content(stages[3]).transactions == 4  # CREATE TABLE and three inserts


def test_a_torn_last_frame_is_not_counted(tmp_path):
    """A -wal cut inside its last transaction: SQLite's recovery drops that transaction; so does
    the verdict (the earlier ones still count)."""
    db = tmp_path / "c.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    one = Path(f"{db}-wal").stat().st_size
    conn.execute("INSERT INTO t VALUES (2)")
    conn.commit()
    copy = tmp_path / "cut"
    copy.mkdir()
    shutil.copy(db, copy / "c.sqlite")
    data = Path(f"{db}-wal").read_bytes()
    conn.close()
    Path(f"{copy / 'c.sqlite'}-wal").write_bytes(data[:one + 100])  # the second insert torn
    assert wal.wal_content(copy / "c.sqlite").transactions == 1
    assert "INSERT INTO \"t\" VALUES(1);" in _sqlite_reads(copy / "c.sqlite")
    assert "INSERT INTO \"t\" VALUES(2);" not in _sqlite_reads(copy / "c.sqlite")
    damaged = bytearray(data)
    damaged[one - 10] ^= 0xFF  # a bit flipped in the first insert's page: its checksum fails
    Path(f"{copy / 'c.sqlite'}-shm").unlink(missing_ok=True)  # the index of the -wal read above
    Path(f"{copy / 'c.sqlite'}-wal").write_bytes(bytes(damaged))
    assert wal.wal_content(copy / "c.sqlite") == wal.WalContent(0, 0, 0)
    assert "INSERT INTO \"t\" VALUES(1);" not in _sqlite_reads(copy / "c.sqlite")
