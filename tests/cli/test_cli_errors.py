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


def test_wrong_extractor_settings_are_one_line_and_leave_the_project_as_it_was(tmp_path, capsys):
    """A typo in --extractor or its options was stored before it failed, and every later training
    of the project failed on it. Now nothing is stored until the extractor builds."""
    from mammo_annotator.services.project import open_project

    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1  # creates the project
    project = open_project(db)
    project.set_setting("extractor", {"name": "handcrafted", "options": {}})
    project.close()
    cases = {
        ("--extractor", "nope"): "error: unknown feature extractor 'nope'; known: efficientnet-lite0",
        ("--extractor", "efficientnet-lite1", "--extractor-options", '{"stages": [9]}'):
            "error: feature extractor 'efficientnet-lite1' with options {'stages': [9]}: stages must be among 1..7",
        ("--extractor", "handcrafted", "--extractor-options", '{"colour": 1}'): "unexpected keyword argument 'colour'",
        ("--extractor", "handcrafted", "--extractor-options", "{bad"): "error: --extractor-options is not JSON",
        ("--extractor", "handcrafted", "--extractor-options", "[1, 2]"): "must be a JSON object",
        ("--extractor-options", "{}"): "error: --extractor-options needs --extractor",
    }
    for extra, said in cases.items():
        capsys.readouterr()
        assert cli.main(["train", "--db", db, *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert said in err and "\n" not in err and "unexpected" not in err.split(":")[1], err
    project = open_project(db)
    assert project.setting("extractor") == {"name": "handcrafted", "options": {}}
    project.close()
    capsys.readouterr()
    assert cli.main(["evaluate", "--db", db, "--out", str(tmp_path / "ev"), "--extractor-options", "{}"]) == 2
    assert capsys.readouterr().err.strip() == "error: --extractor-options needs --extractor"


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["retrain", "--backbone-steps", "-1"],
                                  ["learn-features", "--steps", "0"], ["learn-features", "--mode", "e2e", "--epochs", "0"],
                                  ["evaluate", "--out", "ev", "--epochs", "0"], ["train", "--epochs", "two"]])
def test_counts_below_one_are_refused_by_the_parser(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main([argv[0], "--db", str(tmp_path / "p.sqlite"), *argv[1:]])
    err = capsys.readouterr().err
    assert info.value.code == 2 and ("must be at least 1" in err or "'two' is not a whole number" in err)


def test_an_unknown_method_or_model_version_is_one_line(tmp_path, capsys):
    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1  # creates the project
    capsys.readouterr()
    assert cli.main(["train", "--db", db, "--method", "nonsense"]) == 2
    assert capsys.readouterr().err.strip() == ("error: unknown method 'nonsense'; known: cls_det, cls_det_rs, "
                                               "db_baseline, max_region, ss_baseline_rs, ss_cls_det_rs")
    assert cli.main(["models", "--db", db, "--activate", "999"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {db}: no model version 999 (`mammo-annotator models` lists them)"
    out = tmp_path / "pred.csv"
    assert cli.main(["export", "--db", db, "predictions", "--model", "999", "--out", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar's lines
    assert last == f"error: {db}: no model version 999 (`mammo-annotator models` lists them)"
    assert not out.exists()
    with pytest.raises(SystemExit):
        cli.main(["export", "--db", db, "predictions", "--top", "0", "--out", str(out)])
    assert "--top: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("grid, said", [
    (["--window", "0"], "window 0 px is outside 8-4096 px"),
    (["--window=-5"], "window -5 px is outside 8-4096 px"),
    (["--window", "0mm"], "window 0 mm is outside 1-200 mm"),
    (["--window", "nanmm"], "window nan mm is outside 1-200 mm"),
    (["--window", "1mm", "--stride", "0.001mm"], "stride 0.001 mm is outside 0.0625-1 mm"),
    (["--window", "224", "--stride", "300"], "stride 300 px is outside 14-224 px"),
    (["--window", "224", "--stride", "0"], "stride 0 px is outside 14-224 px"),
    (["--window", "22.4"], "--window '22.4' is not a size"),
    (["--window", "abc"], "--window 'abc' is not a size"),
    (["--window", "224", "--stride", "3mm"], "must both be in pixels or both in millimetres"),
])
def test_a_wrong_region_grid_is_one_line_and_creates_nothing(tmp_path, capsys, grid, said):
    """A window of 0 gave every image 0 regions and a stride of 0.001 mm 300,000 per image, and the
    grid was stored for good; now the grid is checked before any project is created."""
    db = tmp_path / "p.sqlite"
    assert cli.main(["import", "--db", str(db), str(tmp_path), *grid]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and said in err and "\n" not in err, err
    assert not db.exists()


def test_a_wrong_grid_is_never_stored(tmp_path):
    from mammo_annotator.core.errors import MammoError
    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services.project import open_project

    assert GridSpec().problem() is None and GridSpec(size_mm=22.4, stride_mm=11.2).problem() is None
    assert "inside fraction" in GridSpec(min_inside=1.5).problem()
    assert "both needed" in GridSpec(size_mm=22.4).problem()
    project = open_project(tmp_path / "p.sqlite", create=True)
    with pytest.raises(MammoError, match="region grid not set: window 4 px"):
        project.set_grid_spec(GridSpec(size_px=4, stride_px=2))
    assert project.grid_spec() == GridSpec()
    project.close()


@pytest.mark.parametrize("limit", ["0", "-2"])
def test_a_dataset_limit_below_one_is_refused(tmp_path, capsys, limit):
    with pytest.raises(SystemExit) as info:
        cli.main(["import-dataset", "--db", str(tmp_path / "p.sqlite"), "mini-mias", str(tmp_path), f"--limit={limit}"])
    assert info.value.code == 2 and "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["models", "--activate", "99999999999999999999"],
                                  ["export", "predictions", "--out", "p.csv", "--model", "99999999999999999999"],
                                  ["models", "--activate", "0"], ["learn-features", "--seed", "99999999999999999999"],
                                  ["evaluate", "--out", "ev", "--seed", "-1"]])
def test_ids_and_seeds_out_of_range_are_refused_by_the_parser(tmp_path, capsys, argv):
    """A 20-digit id overflowed SQLite's integer and a seed numpy's range, as unexpected errors."""
    with pytest.raises(SystemExit) as info:
        cli.main([argv[0], "--db", str(tmp_path / "p.sqlite"), *argv[1:]])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "must be between" in err


def test_evaluate_checks_its_report_folder_before_the_work(tmp_path, capsys, monkeypatch):
    """A file at --out failed with FileExistsError after the whole cross-validation had run."""
    from mammo_annotator.services import evaluation

    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1  # creates the project
    (tmp_path / "report").write_text("not a folder")
    monkeypatch.setattr(evaluation, "_dataset", lambda *a, **k: pytest.fail("features extracted before the check"))
    capsys.readouterr()
    assert cli.main(["evaluate", "--db", db, "--out", str(tmp_path / "report"), "--extractor", "handcrafted"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"error: {tmp_path / 'report'} is a file; --out names the folder of the report"


def test_a_path_the_system_refuses_is_one_line(tmp_path, capsys, monkeypatch):
    """An OSError naming a file (permissions, a missing folder) is the user's to fix, not a bug."""
    def refuse(project):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "x.csv"))

    monkeypatch.setattr(info, "project_info", refuse)
    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1
    capsys.readouterr()
    assert cli.main(["info", "--db", db]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'ro' / 'x.csv'}: Permission denied"


def test_evaluate_refuses_a_report_folder_under_a_file(tmp_path, capsys, monkeypatch):
    from mammo_annotator.services import evaluation

    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(tmp_path / "nothing")]) == 1
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(evaluation, "_dataset", lambda *a, **k: pytest.fail("features extracted before the check"))
    capsys.readouterr()
    out = tmp_path / "afile" / "sub" / "report"
    assert cli.main(["evaluate", "--db", db, "--out", str(out), "--extractor", "handcrafted"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"error: {out}: {tmp_path / 'afile'} is a file, so the report folder cannot be made"
