"""``mammo-annotator backups``: every refusal is one line naming the path, never an unexpected error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from mammo_annotator import cli
from mammo_annotator.services.project import open_project
from mammo_annotator.store import backup as backups


def _project(tmp_path):
    p = open_project(tmp_path / "p.sqlite", create=True)
    p.set_setting("kept", 1)
    p.close()
    return tmp_path / "p.sqlite"


def _one_error_line(capsys, argv, names) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "unexpected" not in err, err
    assert str(names) in err, err
    return err


def test_backup_now_when_the_backups_folder_is_a_file(tmp_path, capsys):
    path = _project(tmp_path)
    backups.backup_dir(path).write_text("not a folder")
    err = _one_error_line(capsys, ["backups", "--db", str(path), "--now"], backups.backup_dir(path))
    assert "is a file, not the project's backups folder" in err


def test_restore_into_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "nonexistent" / "dir" / "p.sqlite"
    err = _one_error_line(capsys, ["backups", "--db", str(missing), "--restore"], missing)
    assert "no such folder" in err and not missing.parent.exists()


def test_listing_a_missing_project(tmp_path, capsys):
    missing = tmp_path / "p.sqlite"
    assert "no such project database" in _one_error_line(capsys, ["backups", "--db", str(missing)], missing)


def test_checking_a_folder(tmp_path, capsys):
    folder = tmp_path / "p.sqlite"
    folder.mkdir()
    err = _one_error_line(capsys, ["backups", "--db", str(folder), "--check"], folder)
    assert "is a folder" in err


def test_restoring_another_applications_database_leaves_the_project(tmp_path, capsys):
    path = _project(tmp_path)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.close()
    err = _one_error_line(capsys, ["backups", "--db", str(path), "--restore", str(other)], other)
    assert "not a Mammo Annotator project" in err
    assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]


def test_backup_now_of_a_locked_file_says_locked(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(backups, "LOCK_WAIT_S", 0.5)
    path = _project(tmp_path)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    code = ("import sqlite3, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); c.execute(\"UPDATE settings SET value_json='2'\")\n"
            "print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        err = _one_error_line(capsys, ["backups", "--db", str(path), "--now"], path)
        assert "locked by another program" in err
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert list(backups.backup_dir(path).iterdir()) == []


@pytest.mark.parametrize("flag", [[], ["--check"], ["--now"]])
def test_a_healthy_project_still_works(tmp_path, capsys, flag):
    path = _project(tmp_path)
    assert cli.main(["backups", "--db", str(path), *flag]) == 0
