"""An import into a shared PostgreSQL project whose server is shut down in the middle of an image:
nothing half-written, the error names the server and the reason, and a re-run finishes the batch."""

from __future__ import annotations

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services.importing import import_items
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.store.schema import ImageRow, PatientRow, RegionGridRow, RegionRow, StudyRow
from tests.pg_outage import halted_inside_second_image, private_pg, resume  # noqa: F401 - the fixture


def _counts(project) -> dict[str, int]:
    with project.session() as s:
        counts = {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                  for t in (PatientRow, StudyRow, ImageRow, RegionGridRow)}
        counts["distinct images"] = s.scalar(select(func.count(func.distinct(ImageRow.sha256))))
        counts["regions of missing grids"] = s.scalar(select(func.count()).select_from(RegionRow).where(
            RegionRow.grid_id.not_in(select(RegionGridRow.id))))
    return counts


def test_a_server_shut_down_mid_import_leaves_whole_images_and_a_rerun_finishes(private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = []
    for k in range(5):
        path = tmp_path / f"img{k}.png"
        Image.fromarray(synthetic_mammogram(k, size=(512, 416), view="MLO", laterality="L").pixels.astype(np.uint16)).save(path)
        paths.append(path)
    project = open_project(private_pg.new_database(), create=True)
    with halted_inside_second_image(private_pg, project.engine) as images_written:
        report = import_items(project, items_from_paths(paths))
    assert "halt" in images_written
    assert len(report.imported) == 1
    assert [p for p, _ in report.failed] == [str(p) for p in paths[1:]]  # every file accounted for
    in_flight = report.failed[0][1]
    assert project.location in in_flight and "terminating connection" in in_flight  # the server and why
    assert all(why.startswith("not imported: the import stopped") for _, why in report.failed[1:])  # not tried 4 times
    assert project.location in report.stopped and "stopped:" in report.summary() and "run the import again" in report.summary()

    resume(private_pg)
    assert _counts(project) == {"patients": 1, "studies": 1, "images": 1, "region_grids": 1, "distinct images": 1,
                                "regions of missing grids": 0}  # the first image whole, nothing of the second
    again = import_items(project, items_from_paths(paths))
    assert again.failed == [] and len(again.imported) == 4 and [i for _, i in again.duplicates] == report.imported
    assert _counts(project) == {"patients": 5, "studies": 5, "images": 5, "region_grids": 5, "distinct images": 5,
                                "regions of missing grids": 0}
    project.close()


def test_the_command_line_exits_non_zero_when_the_server_went_away_mid_import(private_pg, tmp_path, monkeypatch, capsys):
    """Some images in, the rest untried because the server went away: a script must see a failure."""
    from sqlalchemy.engine import Engine

    from mammo_annotator.cli import main

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = []
    for k in range(3):
        path = tmp_path / f"img{k}.png"
        Image.fromarray(synthetic_mammogram(k, size=(384, 320), view="MLO", laterality="R").pixels.astype(np.uint16)).save(path)
        paths.append(str(path))
    url = private_pg.new_database()
    try:
        with halted_inside_second_image(private_pg, Engine) as images_written:
            status = main(["import", "--db", url, *paths])
    finally:
        resume(private_pg)
    assert "halt" in images_written
    out = capsys.readouterr()
    assert "run the import again" in out.out + out.err
    assert status == 1
