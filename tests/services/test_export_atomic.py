"""A run of several export formats is written whole or not at all: a format that fails, a file that
cannot be put in place or a stop leaves the destination folder exactly as it was."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mammo_annotator.core.errors import MammoError
from mammo_annotator.core.progress import Cancelled
from mammo_annotator.services import export as ex
from mammo_annotator.services.project import open_project
from mammo_annotator.store.schema import PredictionRow
from tests.services.export_helpers import add_predictions, build_project


@pytest.fixture
def annotated(tmp_path):
    project = open_project(tmp_path / "p.sqlite", create=True)
    (tmp_path / "dcm").mkdir()
    ids = build_project(project, tmp_path / "dcm")
    add_predictions(project, list(ids.values()))
    yield project
    project.close()


@pytest.fixture
def destination(tmp_path) -> Path:
    """A folder that already holds a user's files, one of them named as an export writes."""
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "labels.csv").write_text("my own labels, not an export\n")
    (out / "notes.txt").write_text("keep me\n")
    (out / "masks" / "old.png").write_bytes(b"an older mask")
    return out


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def damage_a_prediction(project) -> None:
    """A prediction row whose region scores are torn (5 bytes: no whole float32), as a damaged
    database holds it: the predictions export, the sixth format of ``FORMATS``, fails on it."""
    with project.session() as s:
        row_id = s.scalars(select(PredictionRow.id).order_by(PredictionRow.id.desc())).first()
        s.execute(update(PredictionRow).where(PredictionRow.id == row_id).values(region_scores=b"\x00" * 5))


def test_a_format_failing_partway_leaves_the_folder_as_it_was(annotated, destination):
    """labels, GeoJSON, COCO, masks and regions were written (labels.csv replacing the user's own)
    before predictions failed: the run left a half-written export and a lost file."""
    damage_a_prediction(annotated)
    before = snapshot(destination)
    with pytest.raises(MammoError) as info:
        ex.export_many(annotated, ex.FORMATS, destination)
    assert isinstance(info.value, ex.ExportRunError) and info.value.format == "predictions"
    assert "ValueError" in str(info.value) and f"{destination} is as it was" in str(info.value)
    assert snapshot(destination) == before


def test_a_file_that_cannot_be_put_in_place_undoes_the_moves_made(annotated, destination):
    """The last step fails for real: a folder stands where a mask file goes. The labels already
    moved into place are undone and the user's labels.csv is back."""
    ex.export(annotated, "masks", destination / "probe", ex.ExportOptions(keep_ids=True))
    blocked = sorted(p.name for p in (destination / "probe").iterdir())[-1]
    (destination / "masks" / blocked).mkdir()
    (destination / "masks" / blocked / "mine.txt").write_text("mine")
    before = snapshot(destination)
    with pytest.raises(ex.ExportRunError) as info:
        ex.export_many(annotated, ["labels", "coco", "masks"], destination, ex.ExportOptions(keep_ids=True))
    assert info.value.format == "masks" and "is a folder" in str(info.value)
    assert snapshot(destination) == before


def test_a_stopped_run_writes_nothing(annotated, destination):
    stop = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        if message.startswith("masks") and done >= 2:  # labels, GeoJSON and COCO are finished by then
            stop.set()

    before = snapshot(destination)
    with pytest.raises(Cancelled):
        ex.export_many(annotated, ex.FORMATS, destination, progress=progress, cancel=stop)
    assert stop.is_set() and snapshot(destination) == before


def test_a_successful_run_writes_everything_and_keeps_the_users_other_files(annotated, destination):
    seen = []
    results = ex.export_many(annotated, ex.FORMATS, destination, progress=lambda d, t, m: seen.append(m))
    names = sorted(p.name for p in destination.iterdir())
    assert names == ["coco.json", "contours.geojson", "dicom-seg", "dicom-sr", "labels.csv", "masks", "notes.txt",
                     "predictions.csv", "regions.csv"]  # no staging folder left behind
    assert (destination / "labels.csv").read_text().startswith("image,")  # replaced, on success only
    assert (destination / "notes.txt").read_text() == "keep me\n"
    assert (destination / "masks" / "old.png").read_bytes() == b"an older mask"
    assert {r.format: r.path for r in results}["seg"] == destination / "dicom-seg"
    assert all(r.path.exists() for r in results) and len(list((destination / "dicom-sr").glob("*.dcm"))) == 2
    assert any(m.startswith("sr: ") for m in seen) and seen[-1] == "putting the files in place"


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run_after_a_day(annotated, destination):
    """A run killed outright (SIGKILL, power cut) cannot remove its hidden staging folder; the next
    run removes one older than a day, and leaves a younger one (it may be another run's)."""
    import os
    import time

    old = destination / f"{ex.staging.STAGING_PREFIX}killed.part"
    young = destination / f"{ex.staging.STAGING_PREFIX}running.part"
    for folder in (old, young):
        (folder / "masks").mkdir(parents=True)
        (folder / "masks" / "half.png").write_bytes(b"half")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    ex.export_many(annotated, ["labels"], destination)
    assert not old.exists() and (young / "masks" / "half.png").read_bytes() == b"half"


@pytest.mark.parametrize("fmt", ["masks", "seg", "sr", "geojson"])
def test_a_folder_format_stopped_or_failing_halfway_leaves_the_folder_as_it_was(annotated, destination, fmt,
                                                                                monkeypatch):
    """One folder format alone (``export masks --out DIR``): a stop or a failure after some of its
    files kept those files, which looked like a whole export."""
    options = ex.ExportOptions(per_image=True) if fmt == "geojson" else ex.ExportOptions()
    folder = destination / "masks"
    before = snapshot(destination)
    stop = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        if done >= 2:  # the files of the first images are written by then
            stop.set()

    with pytest.raises(Cancelled):
        ex.export(annotated, fmt, folder, options, progress=progress, cancel=stop)
    assert stop.is_set() and snapshot(destination) == before

    failing = threading.Event()

    def fail_at_the_third(done: int, total: int, message: str) -> None:
        if done >= 2:
            failing.set()
            raise OSError(28, "No space left on device")

    with pytest.raises(ex.ExportRunError) as info:
        ex.export(annotated, fmt, folder, options, progress=fail_at_the_third)
    assert failing.is_set() and info.value.format == fmt and "No space left" in str(info.value)
    assert f"{folder} is as it was" in str(info.value) and snapshot(destination) == before

    result = ex.export(annotated, fmt, folder, options)  # whole: the user's file beside it stays
    assert result.path == folder and result.files > 0
    assert (folder / "old.png").read_bytes() == b"an older mask"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no staging folder left
