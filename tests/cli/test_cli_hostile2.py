"""The command line used the way a hurried researcher uses it: contradictory options, the project
given where a backup or a test project belongs, image folders moved away, Ctrl-C in the middle.
Each mistake is one line naming the argument or file and why, exit 2, and nothing half-written."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mammo_annotator import cli
from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.core.types import WeakLabel
from mammo_annotator.services.features import set_project_extractor
from mammo_annotator.services.project import open_project
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))


def _blank_project(path, n_patients: int = 4, seed: int = 0) -> str:
    """Two images per patient (one malignant, one normal), no pixels, hand-crafted features cached
    at random: trains and cross-validates in a second."""
    project = open_project(path, create=True)
    ext = set_project_extractor(project, "handcrafted")
    rng = np.random.default_rng(seed)
    for k in range(2 * n_patients):
        weak = WeakLabel(k % 2, 0)
        image_id = add_blank_image(project, f"{path.stem}-P{k // 2}", size=(448, 448), weak=weak, laterality="LR"[k % 2],
                                   sha=f"{path.stem}{k}".ljust(64, "0"))
        with project.session() as s:
            grid = region_store.grid_id_for(s, image_id)
            n = len(region_store.region_set(s, grid).boxes)
            region_store.put_features(s, grid, ext.key, rng.standard_normal((n, ext.dim)).astype(np.float32) + k % 2)
    project.close()
    return str(path)


def _last_error(capsys) -> str:
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    return err[-1] if err else ""


def _versions(db: str) -> list:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT id FROM model_versions").fetchall()


# contradictory or empty options ------------------------------------------------------------

@pytest.mark.parametrize("argv, said", [
    (["train", "--backbone-steps", "5"], "error: --backbone-mode and --backbone-steps are for --backbone refresh"),
    (["retrain", "--backbone-mode", "simclr"], "error: --backbone-mode and --backbone-steps are for --backbone refresh"),
    (["learn-features", "--imagenet", "none", "--weights", "r18.pth"], "error: --weights and --layer are for an ImageNet"),
    (["learn-features", "--imagenet", "none", "--layer", "layer2"], "error: --weights and --layer are for an ImageNet"),
    (["evaluate", "--out", "ev", "--methods", ""], "error: --methods '' names no method; leave it out to run them all"),
    (["evaluate", "--out", "ev", "--methods", " , "], "error: --methods ' , ' names no method"),
])
def test_contradictory_options_are_refused_before_any_work(tmp_path, capsys, argv, said):
    """They were ignored: --backbone-steps trained the heads only, --layer with --imagenet none the
    small net, --weights with it an unexpected ValueError, and an empty --methods all ten runs."""
    db = _blank_project(tmp_path / "p.sqlite", n_patients=2)
    capsys.readouterr()
    assert cli.main([argv[0], "--db", db, *argv[1:]]) == 2
    err = _last_error(capsys)
    assert err.startswith(said), err
    assert _versions(db) == [] and not (tmp_path / "ev").exists()


def test_methods_with_spaces_after_the_commas_are_names(tmp_path, capsys):
    """'cls_det_rs, nope' named ' nope': the unknown name is now 'nope', and a known one with a space passes."""
    db = _blank_project(tmp_path / "p.sqlite", n_patients=2)
    capsys.readouterr()
    assert cli.main(["evaluate", "--db", db, "--out", str(tmp_path / "ev"), "--methods", "cls_det_rs, nope"]) == 2
    assert _last_error(capsys).startswith("error: unknown methods ['nope']; known:")


@pytest.mark.parametrize("argv", [["info", "--db", ""], ["train", "--db", " "],
                                  ["evaluate", "--db", "p.sqlite", "--out", "ev", "--test-db", ""],
                                  ["migrate", "--from", "", "--to", "x.sqlite"]])
def test_an_empty_project_argument_is_a_usage_error(capsys, argv):
    """``--db "$PROJECT"`` with the variable unset was read as the current folder: '.: is a folder'."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "is empty: name a project file or a database URL" in capsys.readouterr().err


def test_listing_the_versions_of_a_project_without_any_says_so(tmp_path, capsys):
    db = _blank_project(tmp_path / "p.sqlite", n_patients=1)
    capsys.readouterr()
    assert cli.main(["models", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == f"{db}: no model versions yet (`mammo-annotator train` makes one)"


def test_a_multi_line_reason_is_printed_on_one_line(tmp_path, capsys, monkeypatch):
    from mammo_annotator.core.errors import MammoError
    from mammo_annotator.services import info

    def refuse(project):
        raise MammoError("x.pth: not loadable (first line\n\nsecond line)")

    db = _blank_project(tmp_path / "p.sqlite", n_patients=1)
    monkeypatch.setattr(info, "project_info", refuse)
    capsys.readouterr()
    assert cli.main(["info", "--db", db]) == 2
    assert capsys.readouterr().err == "error: x.pth: not loadable (first line second line)\n"


def test_a_weights_file_that_is_no_state_dict_is_one_short_line(tmp_path, capsys):
    """torch's refusal spread over six lines and advised weights_only=False (which runs the file's code)."""
    db = _blank_project(tmp_path / "p.sqlite", n_patients=1)
    capsys.readouterr()
    assert cli.main(["learn-features", "--db", db, "--imagenet", "resnet18", "--weights", db, "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {db}: not a plain state-dict file (Weights only load failed)\n"


# the project where another file belongs -------------------------------------------------------

def test_restoring_the_project_from_itself_is_refused_and_keeps_it(tmp_path, capsys, monkeypatch):
    """It 'restored' the file from itself and moved the healthy original aside as .damaged-..."""
    db = _blank_project(tmp_path / "p.sqlite", n_patients=1)
    before = (tmp_path / "p.sqlite").read_bytes()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(["backups", "--db", db, "--restore", "./p.sqlite"]) == 2
    assert capsys.readouterr().err == ("error: ./p.sqlite: is the project itself, not one of its backups "
                                       "(`mammo-annotator backups --db PROJECT` lists them)\n")
    assert (tmp_path / "p.sqlite").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if "damaged" in p.name]


def test_evaluating_on_the_training_project_itself_is_one_line(tmp_path, capsys):
    """--test-db naming --db (or a copy of it) was an unexpected ValueError (exit 3)."""
    db = _blank_project(tmp_path / "p.sqlite")
    shutil.copy(db, tmp_path / "copy.sqlite")
    out = tmp_path / "ev"
    capsys.readouterr()
    base = ["evaluate", "--db", db, "--out", str(out), "--epochs", "1", "--methods", "cls_det_rs"]
    assert cli.main([*base, "--test-db", str(tmp_path / "." / "p.sqlite")]) == 2
    assert _last_error(capsys) == (f"error: {db}: --test-db is the project trained on (--db); name another project, "
                                   "or leave --test-db out to cross-validate")
    assert cli.main([*base, "--test-db", str(tmp_path / "copy.sqlite")]) == 2
    assert _last_error(capsys) == (f"error: {tmp_path / 'copy.sqlite'}: 4 of its patients are also in the training "
                                   "project (e.g. p-P0, p-P1, p-P2), so the test would score images the model was "
                                   "trained on")
    assert not out.exists()


def test_a_pacs_url_typo_creates_no_project(tmp_path, capsys):
    db = tmp_path / "new.sqlite"
    assert cli.main(["import-dicomweb", "--db", str(db), "htps://pacs.example/dicom-web"]) == 2
    assert _last_error(capsys).startswith("error: htps://pacs.example/dicom-web: not a DICOMweb root URL")
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "cache"])


# image files moved away ----------------------------------------------------------------------

def _png_project(tmp_path, n: int = 4) -> str:
    src = tmp_path / "images"
    src.mkdir()
    rows = ["image,patient_id,pathology"]
    for i in range(n):
        case = synthetic_mammogram(i, size=(384, 320), laterality="LR"[i % 2], n_malignant=i % 2)
        Image.fromarray(case.pixels.astype(np.uint16)).save(src / f"im{i}.png")
        rows.append(f"images/im{i}.png,P{i // 2},{'malignant' if i % 2 else 'normal'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    db = str(tmp_path / "p.sqlite")
    assert cli.main(["import", "--db", db, str(src), "--labels", str(tmp_path / "labels.csv"), "--window", "112"]) == 0
    project = open_project(db)
    set_project_extractor(project, "handcrafted")
    project.close()
    return db


def test_training_on_a_project_whose_images_moved_names_them(tmp_path, capsys, monkeypatch):
    """'none of its 4 images has regions with features: no cached features for handcrafted... (4)'
    said nothing of the image folder that had been moved; now the files and the reason are named."""
    db = _png_project(tmp_path)
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "empty-cache"))  # no cached pixels either
    (tmp_path / "images").rename(tmp_path / "moved")
    capsys.readouterr()
    assert cli.main(["train", "--db", db, "--epochs", "1"]) == 2
    err = _last_error(capsys)
    assert err.startswith(f"error: {db}: no image has features to work on: the pixels of 4 images could not be read: "
                          f"image 1 ({tmp_path / 'images' / 'im0.png'}: the image file has disappeared"), err
    assert err.endswith("; and 1 more")
    assert _versions(db) == []
    assert cli.main(["evaluate", "--db", db, "--out", str(tmp_path / "ev"), "--folds", "2", "--epochs", "1"]) == 2
    assert "the pixels of 4 images could not be read" in _last_error(capsys)
    assert not (tmp_path / "ev").exists()


def test_training_without_some_images_says_which_were_left_out(tmp_path, capsys, monkeypatch):
    """The training went on with 3 of 4 images and said nothing of the fourth."""
    db = _png_project(tmp_path)
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "images" / "im1.png").unlink()
    capsys.readouterr()
    assert cli.main(["train", "--db", db, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert (f"1 images left out: the pixels of 1 images could not be read: image 2 ({tmp_path / 'images' / 'im1.png'}: "
            "the image file has disappeared") in out
    assert len(_versions(db)) == 1


# Ctrl-C ---------------------------------------------------------------------------------------

def _interrupted(tmp_path, argv: list[str], pause_in: tuple[str, str]) -> subprocess.CompletedProcess:
    """Run the command in a real process that pauses inside ``module.function``, send it Ctrl-C there."""
    module, function = pause_in
    script = ("import signal, sys, importlib\n"
              f"m = importlib.import_module({module!r})\n"
              "def paused(*a, **k):\n"
              "    print('paused', flush=True)\n"
              "    signal.pause()\n"
              f"setattr(m, {function!r}, paused)\n"
              "from mammo_annotator.cli import main\n"
              f"sys.exit(main({argv!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "MAMMO_ANNOTATOR_CACHE": str(tmp_path / "cache")})
    try:
        assert proc.stdout.readline().strip() == "paused"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_ctrl_c_while_the_report_is_written_leaves_no_report(tmp_path):
    """The report (bootstrap intervals, four plots) takes seconds to minutes; Ctrl-C there left a
    folder with results.md and no plots."""
    db = _blank_project(tmp_path / "p.sqlite")
    out = tmp_path / "runs" / "ev"
    done = _interrupted(tmp_path, ["evaluate", "--db", db, "--out", str(out), "--folds", "2", "--epochs", "1",
                                   "--methods", "cls_det_rs"], ("mammo_annotator.ml.report", "summary_table"))
    assert done.returncode == 130
    assert done.stderr.replace("\r", "\n").strip().splitlines()[-1] == "interrupted"
    assert not (tmp_path / "runs").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # the staging folder is gone too


def test_ctrl_c_in_the_report_keeps_the_last_report_whole(tmp_path, capsys, monkeypatch):
    """A rerun into the same folder wrote a new results.md beside the last run's plots."""
    from mammo_annotator.ml import report

    db = _blank_project(tmp_path / "p.sqlite")
    out = tmp_path / "ev"
    out.mkdir()
    (out / "results.md").write_text("last run")
    (out / "roc.png").write_bytes(b"last run")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    real_summary = report.summary_table
    monkeypatch.setattr(report, "summary_table", lambda result, n_boot: real_summary(result, 50))  # fewer bootstraps: faster
    monkeypatch.setattr(report, "plot_froc", interrupt)
    assert cli.main(["evaluate", "--db", db, "--out", str(out), "--folds", "2", "--epochs", "1",
                     "--methods", "cls_det_rs"]) == 130
    assert _last_error(capsys) == "interrupted"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert (out / "results.md").read_text() == "last run" and (out / "roc.png").read_bytes() == b"last run"
    assert sorted(p.name for p in out.iterdir()) == ["results.md", "roc.png"]


def test_ctrl_c_while_training_stores_no_version(tmp_path):
    """(held already) Ctrl-C during the heads' training: exit 130, one line, no model version."""
    db = _blank_project(tmp_path / "p.sqlite")
    done = _interrupted(tmp_path, ["train", "--db", db, "--epochs", "3"], ("mammo_annotator.ml.train", "evaluate_loss"))
    assert done.returncode == 130
    assert done.stderr.replace("\r", "\n").strip().splitlines()[-1] == "interrupted"
    assert _versions(db) == []
