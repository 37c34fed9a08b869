"""A failing command prints one line naming the problem, never a traceback; --debug shows it."""

from __future__ import annotations

import pytest

from mammo_annotator import cli
from mammo_annotator.services import info


def test_unexpected_error_is_one_line(tmp_path, capsys, monkeypatch):
    def broken(project):
        raise RuntimeError("the counts table is odd\nsecond line")

    monkeypatch.setattr(info, "project_info", broken)
    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1  # creates the project
    capsys.readouterr()
    assert cli.main(["info", "--db", db]) == 3
    err = capsys.readouterr().err
    assert err.strip() == "error: unexpected RuntimeError: the counts table is odd (rerun with --debug for the traceback)"
    with pytest.raises(RuntimeError, match="counts table"):
        cli.main(["--debug", "info", "--db", db])


def test_expected_error_names_the_file(tmp_path, capsys):
    bad = tmp_path / "labels.csv"
    bad.write_bytes(b"\x00\x01binary\x00")
    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path), "--labels", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: a binary file") and "\n" not in err
