"""``mammo-annotator export`` and ``import-contours`` over the export services."""

from __future__ import annotations

import csv

from mammo_annotator.cli import main
from mammo_annotator.services.project import open_project
from tests.services.export_helpers import build_project
from tests.services.test_export_reimport import blank_twin, label_table


def make_project(tmp_path):
    project = open_project(tmp_path / "p.sqlite", create=True)
    (tmp_path / "dcm").mkdir()
    build_project(project, tmp_path / "dcm")
    return project


def test_export_all_then_import_contours(tmp_path, capsys):
    source = make_project(tmp_path)
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "all", "--out", str(tmp_path / "out"), "--keep-ids"]) == 0
    out = capsys.readouterr().out
    assert "labels: 6 items" in out and "seg: 2 items" in out and "no trained model" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["coco.json", "contours.geojson", "dicom-seg", "dicom-sr", "labels.csv", "masks", "regions.csv"]
    twin = blank_twin(source, tmp_path / "twin.sqlite", tmp_path / "dcm")
    assert main(["import-contours", "--db", str(tmp_path / "twin.sqlite"), str(tmp_path / "out" / "coco.json")]) == 0
    assert "6 contours imported on 5 images" in capsys.readouterr().out
    assert label_table(twin) == label_table(source)
    twin.close()
    source.close()


def test_export_single_formats(tmp_path, capsys):
    make_project(tmp_path).close()
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "regions", "--out", str(tmp_path / "regions.csv")]) == 0
    with open(tmp_path / "regions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and rows[0]["image"].startswith("I-")
    assert "pseudonymised" in capsys.readouterr().out
    assert main(["export", "--db", db, "geojson", "--per-image", "--out", str(tmp_path / "gj")]) == 0
    assert len(list((tmp_path / "gj").glob("I-*.geojson"))) == 5
    assert main(["export", "--db", db, "masks", "--out", str(tmp_path / "regions.csv")]) == 2  # a file, not a folder
    assert "is a file" in capsys.readouterr().err


def test_an_export_never_replaces_a_database(tmp_path, capsys):
    """`--out p.sqlite` turned the project into a CSV file, with its -wal left beside it."""
    make_project(tmp_path).close()
    db = tmp_path / "p.sqlite"
    before = db.read_bytes()
    for target in ("p.sqlite", "p.sqlite-wal", "p.sqlite.lock"):
        assert main(["export", "--db", str(db), "labels", "--out", str(tmp_path / target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err == f"error: refusing to write {tmp_path / target}: p.sqlite is a SQLite database (a project?); " \
                      "choose another file"
    assert main(["agreement", "--db", str(db), "--out", str(db)]) == 2
    assert db.read_bytes()[:16] == before[:16] and main(["info", "--db", str(db)]) == 0
    assert not list(tmp_path.glob("*.part"))


def test_a_planted_part_file_is_never_written_through(tmp_path):
    """The temporary file was `NAME.part`, opened by name: a symlink planted there was followed."""
    make_project(tmp_path).close()
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "labels.csv.part").symlink_to(victim)
    assert main(["export", "--db", str(tmp_path / "p.sqlite"), "labels", "--out", str(out / "labels.csv")]) == 0
    assert victim.read_text() == "keep me" and (out / "labels.csv").read_text().startswith("image,")
    assert (out / "labels.csv").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    current = os.umask(0o022)
    os.umask(current)
    return current


def test_terminating_an_export_leaves_no_temporary_file(tmp_path):
    """SIGTERM (a scheduler's stop) left `.part` files behind; it now unwinds like Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    make_project(tmp_path).close()
    script = ("import os, signal, sys\n"
              "from mammo_annotator.services.export import paths\n"
              "real = paths.atomic_open.__wrapped__\n"
              "def slow(path, mode='w', **kw):\n"
              "    gen = real(path, mode, **kw)\n"
              "    fh = next(gen)\n"
              "    print('writing', flush=True)\n"
              "    signal.pause()\n"
              "    yield fh\n"
              "import contextlib\n"
              "paths.atomic_open = contextlib.contextmanager(slow)\n"
              "from mammo_annotator.services.export import tables\n"
              "tables.atomic_open = paths.atomic_open\n"
              "from mammo_annotator.cli import main\n"
              f"sys.exit(main(['export', '--db', {str(tmp_path / 'p.sqlite')!r}, 'labels', '--out', "
              f"{str(tmp_path / 'out' / 'labels.csv')!r}]))\n")
    (tmp_path / "out").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "writing"
    assert [p.name for p in (tmp_path / "out").iterdir()][0].endswith(".part")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    time.sleep(0.1)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_export_keeping_ids_reads_only(tmp_path, capsys):
    """Every export made the pseudonym secret first, a write: a read-only or locked project could
    not export even with --keep-ids, which never uses it."""
    from mammo_annotator.services.export.pseudonyms import SECRET_SETTING

    make_project(tmp_path).close()
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "labels", "--out", str(tmp_path / "l.csv"), "--keep-ids"]) == 0
    project = open_project(db)
    assert project.setting(SECRET_SETTING) is None
    project.close()
    assert main(["export", "--db", db, "labels", "--out", str(tmp_path / "l2.csv")]) == 0
    project = open_project(db)
    assert len(project.setting(SECRET_SETTING)) == 64
    project.close()


def test_a_dicom_export_that_skips_every_image_exits_1(tmp_path, capsys):
    """SEG of a project of PNG images wrote nothing, listed the skips and exited 0."""
    from mammo_annotator.services import annotations as svc
    from tests.helpers import add_blank_image, square

    project = open_project(tmp_path / "p.sqlite", create=True)
    svc.save_contour(project, add_blank_image(project, "P1"), square(100, 100, 40), annotator="dr.a")
    project.close()
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "seg", "--out", str(tmp_path / "seg")]) == 1
    assert "skipped" in capsys.readouterr().out


def test_export_all_that_fails_names_the_format_and_leaves_the_folder_as_it_was(tmp_path, capsys):
    """`export all` stopped at a failing format with the formats before it already written (and a
    same-named file of the user's replaced): now nothing is kept and the error names the format."""
    from tests.services.export_helpers import add_predictions
    from tests.services.test_export_atomic import damage_a_prediction, snapshot

    project = make_project(tmp_path)
    add_predictions(project, [1, 2, 3])
    damage_a_prediction(project)
    project.close()
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.csv").write_text("mine\n")
    before = snapshot(out)
    assert main(["export", "--db", str(tmp_path / "p.sqlite"), "all", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: export predictions failed: ValueError") and err.endswith(f"{out} is as it was")
    assert snapshot(out) == before


def test_values_cut_to_fit_dicom_are_listed(tmp_path, capsys):
    """A source value too long for its VR is left empty or cut in the SEG, and the command says which."""
    from mammo_annotator.services import annotations as svc
    from tests.services.export_helpers import add_dicom_image, square
    from tests.services.test_export_vr_fit import overlong_source

    project = open_project(tmp_path / "p.sqlite", create=True)
    source = overlong_source(tmp_path / "long.dcm", 1)
    svc.save_contour(project, add_dicom_image(project, source), square(40, 60, 50), "dr.a")
    project.close()
    assert main(["export", "--db", str(tmp_path / "p.sqlite"), "seg", "--keep-ids", "--out", str(tmp_path / "seg")]) == 0
    out = capsys.readouterr().out
    assert "(5 warnings)" in out  # PatientID, AccessionNumber, StudyID, PatientOrientation, PixelSpacing
    assert f"  warning  1: 1_long_seg.dcm: PatientID (LO) left empty: 80 bytes, more than the 64 LO allows, " \
           f"and a cut id would name another patient or study (from {source})" in out.splitlines()
