"""The command line: every researcher command on a small project, plus its error messages."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.cli import main
from mammo_annotator.core.synthetic import synthetic_mammogram


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))


def _folder(tmp_path, n=4):
    src = tmp_path / "src"
    src.mkdir()
    rows = ["image,patient_id,pathology"]
    for i in range(n):
        case = synthetic_mammogram(i, size=(512, 416), laterality="LR"[i % 2], n_malignant=int(i % 3 == 0))
        Image.fromarray(case.pixels.astype(np.uint16)).save(src / f"im{i}.png")
        rows.append(f"src/im{i}.png,P{i // 2},{'malignant' if i % 3 == 0 else 'normal'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return src


def test_import_info_export_train_models_evaluate(tmp_path, capsys):
    src = _folder(tmp_path, 8)
    db = str(tmp_path / "p.sqlite")
    assert main(["import", "--db", db, str(src), "--labels", str(tmp_path / "labels.csv"), "--window", "112"]) == 0
    assert "8 imported" in capsys.readouterr().out
    assert main(["info", "--db", db, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 8 and info["patients"] == 4 and info["weak_labels"]["M"] == 3
    out_csv = tmp_path / "regions.csv"
    assert main(["export", "--db", db, "regions", "--out", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == info["regions"]["total"] > 0
    assert {"image", "image_file", "x0", "y0", "x1", "y1", "label", "iom"} <= set(rows[0])
    assert all(int(r["x1"]) - int(r["x0"]) == 112 for r in rows)
    capsys.readouterr()
    assert main(["train", "--db", db, "--epochs", "5"]) == 0
    assert "model version 1" in capsys.readouterr().out
    assert main(["retrain", "--db", db, "--epochs", "4"]) == 0
    assert main(["models", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "cls_det_rs" in listing and listing.count("\n") >= 3
    out_dir = tmp_path / "eval"
    assert main(["evaluate", "--db", db, "--out", str(out_dir), "--folds", "2", "--epochs", "5",
                 "--methods", "cls_det_rs,max_region"]) == 0
    assert (out_dir / "results.md").is_file() and (out_dir / "roc.png").stat().st_size > 1000
    table = (out_dir / "results.md").read_text()
    assert "cls_det_rs" in table and "max_region" in table
    aug_dir = tmp_path / "eval_aug"  # augmented views in every training fold
    assert main(["evaluate", "--db", db, "--out", str(aug_dir), "--folds", "2", "--epochs", "5",
                 "--methods", "cls_det_rs", "--augment", "flip_ud"]) == 0
    assert "cls_det_rs" in (aug_dir / "results.md").read_text()
    import sqlite3

    n_flip = sqlite3.connect(db).execute("SELECT count(*) FROM features WHERE extractor_key LIKE '%|flip_ud'").fetchone()[0]
    assert n_flip == 8  # (training adds no view by default) the view's features were computed for the folds


def test_grid_cannot_change_after_import(tmp_path, capsys):
    src = _folder(tmp_path, 2)
    db = str(tmp_path / "p.sqlite")
    assert main(["import", "--db", db, str(src), "--window", "112"]) == 0
    assert main(["import", "--db", db, str(src), "--window", "224"]) == 2
    assert "cannot change" in capsys.readouterr().err


def test_errors_name_the_file(tmp_path, capsys):
    assert main(["info", "--db", str(tmp_path / "missing.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "missing.sqlite" in err and "no such project database" in err
    bad = tmp_path / "bad.sqlite"
    bad.write_text("hello")
    assert main(["info", "--db", str(bad)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert main(["import-dataset", "--db", str(tmp_path / "p.sqlite"), "mini-mias", str(tmp_path)]) == 2
    assert "Info.txt" in capsys.readouterr().err


def test_module_entry_point_without_qt():
    proc = subprocess.run([sys.executable, "-m", "mammo_annotator", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "import-dataset" in proc.stdout and "evaluate" in proc.stdout


def test_learn_features_from_imagenet_weights_then_retrain_with_backbone_refresh(tmp_path, capsys):
    import torch

    from mammo_annotator.ml.features.nets import ARCHS

    src = _folder(tmp_path, 4)
    db = str(tmp_path / "p.sqlite")
    assert main(["import", "--db", db, str(src), "--labels", str(tmp_path / "labels.csv"), "--window", "112"]) == 0
    weights = tmp_path / "r18.pth"
    torch.save(ARCHS["resnet18"][0]().state_dict(), weights)
    assert main(["learn-features", "--db", db, "--steps", "1", "--imagenet", "resnet18"]) == 2  # no weights file
    assert main(["learn-features", "--db", db, "--steps", "1", "--imagenet", "resnet18", "--weights",
                 str(tmp_path / "missing.pth")]) == 2
    assert "missing.pth" in capsys.readouterr().err
    assert main(["learn-features", "--db", db, "--steps", "1", "--imagenet", "resnet18", "--weights", str(weights)]) == 0
    key = capsys.readouterr().out.split(":", 3)
    assert "learned-supervised-resnet18-layer2" in key[0]
    assert main(["train", "--db", db, "--epochs", "2"]) == 0
    assert "heads only" in capsys.readouterr().out
    assert main(["retrain", "--db", db, "--epochs", "2", "--backbone", "refresh", "--backbone-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "backbone refreshed (learned-supervised-resnet18-layer2:1:" in out


def test_learn_features_end_to_end_from_the_packaged_lite0_then_train(tmp_path, capsys):
    src = _folder(tmp_path, 3)
    db = str(tmp_path / "p.sqlite")
    assert main(["import", "--db", db, str(src), "--labels", str(tmp_path / "labels.csv"), "--window", "112"]) == 0
    capsys.readouterr()
    assert main(["learn-features", "--db", db, "--mode", "e2e", "--steps", "5"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["learn-features", "--db", db, "--epochs", "1"]) == 2  # supervised counts steps
    with pytest.raises(SystemExit) as parser_exit:  # refused by the parser, with its usage line
        main(["learn-features", "--db", db, "--mode", "e2e", "--epochs", "0"])
    assert parser_exit.value.code == 2 and "at least 1" in capsys.readouterr().err
    assert main(["learn-features", "--db", db, "--mode", "e2e", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    from mammo_annotator.ml.features import DEFAULT_EXTRACTOR

    assert out.startswith(f"learned-e2e-{DEFAULT_EXTRACTOR}-s57:1:") and "for 1 epochs" in out  # --imagenet's default
    assert "no contours yet" in out  # this project has image labels only
    assert main(["train", "--db", db, "--epochs", "2"]) == 0
    assert "heads only" in capsys.readouterr().out


def test_share_pseudonyms_makes_two_projects_export_a_patient_alike(tmp_path, capsys):
    src = _folder(tmp_path, 2)
    a, b = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    for db in (a, b):
        assert main(["import", "--db", db, str(src), "--labels", str(tmp_path / "labels.csv"), "--window", "112"]) == 0

    def patients(db, name):
        assert main(["export", "--db", db, "labels", "--out", str(tmp_path / name)]) == 0
        return sorted({r["patient"] for r in csv.DictReader(open(tmp_path / name))})

    assert patients(a, "a1.csv") != patients(b, "b1.csv")  # each project has its own secret
    assert main(["share-pseudonyms", "--db", b, "--from", a]) == 2  # b already has a secret: refused ...
    assert "--force" in capsys.readouterr().err
    assert patients(a, "a2.csv") != patients(b, "b2.csv")  # ... and nothing changed
    assert main(["share-pseudonyms", "--db", b, "--from", a, "--force"]) == 0
    assert patients(a, "a3.csv") == patients(b, "b3.csv")
    assert main(["share-pseudonyms", "--db", b, "--from", a]) == 0  # already shared: fine
