"""Databases written by older releases open with today's code, and the shipped example project works.

tests/store/fixtures/schema_NNNN.db holds one small project per schema revision, written at that
revision by scripts/make_schema_fixtures.py (plain SQL against that schema). Opening a copy
must migrate it to the head revision, keep every row readable, and give the same region labels
when they are recomputed from the stored contours.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from mammo_annotator.core.records import PacsOrigin
from mammo_annotator.core.types import AnnotationStatus, LesionClass
from mammo_annotator.services import annotations as svc
from mammo_annotator.services import viewing
from mammo_annotator.services.export.pseudonyms import Pseudonyms, project_secret
from mammo_annotator.services.project import copy_example, example_database, open_project
from mammo_annotator.store import annotations as ann_store
from mammo_annotator.store import images as image_store
from mammo_annotator.store import models as model_store
from mammo_annotator.store import regions as region_store
from mammo_annotator.store.database_errors import NeedsUpgrade
from mammo_annotator.store.engine import open_database
from mammo_annotator.store.revisions import head_revision, schema_revision

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = Path(__file__).resolve().parents[2] / "mammo_annotator" / "store" / "migrations" / "versions"
REVISIONS = sorted(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def label_snapshot(project):
    """(image id, labels, rounded IoM, annotation ids) of every image's grid."""
    out = []
    with project.session() as s:
        for im in image_store.list_images(s):
            for grid in region_store.grids_of_image(s, im.id):
                rs = region_store.region_set(s, grid)
                iom = None if rs.iom is None else [None if v != v else round(float(v), 6) for v in rs.iom]
                out.append((im.id, grid, list(rs.labels), iom, list(rs.annotation_ids)))
    return out


def relabelled(project):
    """The same snapshot after recomputing every image's labels from its stored contours."""
    alpha = project.alpha()
    with project.session() as s:
        for im in image_store.list_images(s):
            svc.relabel_image(s, im.id, alpha)
    return label_snapshot(project)


def test_every_schema_revision_has_a_fixture():
    assert REVISIONS and REVISIONS[0] == "0001" and REVISIONS[-1] == head_revision()
    missing = [r for r in REVISIONS if not (FIXTURES / f"schema_{r}.db").is_file()]
    assert not missing, f"run scripts/make_schema_fixtures.py: no fixture for {missing}"


@pytest.mark.parametrize("rev", REVISIONS)
def test_a_database_of_each_revision_opens_upgraded_with_its_data(rev, tmp_path):
    src = FIXTURES / f"schema_{rev}.db"
    assert sqlite3.connect(f"file:{src}?mode=ro", uri=True).execute("SELECT version_num FROM alembic_version").fetchone() == (rev,)
    path = tmp_path / "old.sqlite"
    shutil.copy(src, path)
    if rev != head_revision():
        with pytest.raises(NeedsUpgrade, match="needs a schema upgrade"):
            open_database(path, read_only=True)  # a read-only open never migrates
    project = open_project(path)
    try:
        assert schema_revision(project.engine) == head_revision()
        with project.session() as s:
            images = image_store.list_images(s)
            anns = ann_store.list_annotations(s)
            history = ann_store.history(s, anns[0].id)
        assert [(im.patient_key, im.laterality, im.status, im.weak.y_m) for im in images] == [
            ("OLD-P1", "L", AnnotationStatus.CONTOURED, 1), ("OLD-P1", "R", AnnotationStatus.NOT_ANNOTATED, 0)]
        assert [(a.cls, a.polygon.bounds, a.annotator) for a in anns] == [(LesionClass.MALIGNANT, (100, 120, 180, 200), "dr.old")]
        assert [h[0] for h in history] == ["create"]
        origins = [PacsOrigin("https://pacs.old/dicom-web", "1.2.3", "1.2.3.4", "1.2.3.4.5"), None] if rev >= "0004" else [None, None]
        assert [im.pacs for im in images] == origins
        rows = viewing.worklist(project)  # the study's accession number: searchable from 0005 on, none before
        assert [r.accession for r in rows] == (["OLD-ACC-7"] * 2 if rev >= "0005" else ["", ""])
        assert sum(r.matches("old-acc-7") for r in rows) == (2 if rev >= "0005" else 0)
        assert project.alpha() == 0.5 and project.grid_spec().key() == "w224s112i0.5"
        assert Pseudonyms.for_project(project).patient("OLD-P1") == Pseudonyms("s" * 64).patient("OLD-P1")
        assert project_secret(project) == "s" * 64
        old = label_snapshot(project)
        assert {lab for *_, labels, _, _ in old[:1] for lab in labels} == {"M", "BN"} and set(old[1][2]) == {None}
        assert relabelled(project) == old  # today's rule on the old contours gives the old labels
        # and the upgraded file takes new work
        res = svc.save_contour(project, images[1].id, [[10, 10], [60, 10], [60, 60], [10, 60]], "dr.new")
        assert res.revision == 3 and "M" in label_snapshot(project)[1][2]
        if rev >= "0002":
            with project.session() as s:
                from sqlalchemy import text

                assert s.execute(text("SELECT weights FROM extractor_weights WHERE extractor_key = 'learned-old'")).scalar() == b"old weights"
    finally:
        project.close()
    assert src.read_bytes() != path.read_bytes()  # the copy was migrated, the fixture never is


def test_the_shipped_example_project(tmp_path):
    """Behaviour, not content (the example is rebuilt when the default model changes): it opens
    at the head schema, its labels follow its contours, and its active model's stored
    predictions cover every region and, when its features are cached, are what that model gives."""
    from mammo_annotator.ml import modelio
    from mammo_annotator.ml.scoring import score
    from mammo_annotator.services.datasets import load_dataset
    from mammo_annotator.services.features import project_extractor

    assert example_database().is_file()
    path = copy_example(tmp_path / "example.sqlite")
    project = open_project(path)
    try:
        assert schema_revision(project.engine) == head_revision()
        with project.session() as s:
            images = image_store.list_images(s)
            active = model_store.active_model_id(s)
            blob = model_store.model_weights(s, active) if active else None
            probs = model_store.image_probabilities(s, active) if active else {}
            missing_grid = [im.id for im in images if not region_store.grids_of_image(s, im.id)]
        assert images and not missing_grid
        contoured = [im for im in images if im.status is AnnotationStatus.CONTOURED]
        assert contoured, "the example shows at least one contoured image"
        for im in contoured:
            assert any(a.cls is LesionClass.MALIGNANT for a in svc.contours(project, im.id))
        before = label_snapshot(project)
        assert relabelled(project) == before
        assert active is not None, "the example opens with an active model (proposals shown)"
        model = modelio.from_bytes(blob, "example model")
        assert model.feature_key == project_extractor(project).key  # a retrain continues on the same features
        assert set(probs) == {im.id for im in images}
        with project.session() as s:  # one score row per region of the image's grid (what the overlays paint)
            for im in images:
                pred = model_store.prediction(s, active, im.id)
                assert len(pred.region_scores) == len(region_store.regions_of(s, pred.grid_id))
        try:
            pd = load_dataset(project, model.feature_key)
        except ValueError:  # features not shipped (the first retrain computes them)
            pd = None
        if pd is not None and len(pd.image_ids) == len(images):
            sc = score(model, pd.data, num_threads=1)
            stored = np.array([probs[i] for i in pd.image_ids])
            np.testing.assert_allclose(stored[:, 0], sc.p_m, atol=1e-5)
            np.testing.assert_allclose(stored[:, 1], sc.p_b, atol=1e-5)
    finally:
        project.close()
