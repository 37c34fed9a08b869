"""Contours become region labels in the same transaction; edits never lose anything."""

from __future__ import annotations

import pytest

from mammo_annotator.core.errors import InvalidContourError, MammoError
from mammo_annotator.core.types import AnnotationStatus, LesionClass
from mammo_annotator.services import annotations as svc
from mammo_annotator.store import annotations as ann_store
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from mammo_annotator.store.images import StaleImageError
from tests.helpers import add_blank_image, square


def labels_of(project, image_id):
    with project.session() as s:
        rs = region_store.region_set(s, region_store.grid_id_for(s, image_id))
    return rs


def test_save_contour_labels_regions_and_emits(project):
    image_id = add_blank_image(project)
    seen = []
    project.events.connect("annotations_changed", lambda image_id: seen.append(image_id))
    assert set(labels_of(project, image_id).labels) == {None}  # not annotated: no labels
    res = svc.save_contour(project, image_id, square(240, 240, 60), annotator="dr.a")
    rs = labels_of(project, image_id)
    assert rs.labels.count("M") >= 1 and "BN" in rs.labels
    m_regions = [i for i, lab in enumerate(rs.labels) if lab == "M"]
    assert all(rs.annotation_ids[i] == res.annotation_id for i in m_regions)
    with project.session() as s:
        assert image_store.get_image(s, image_id).status is AnnotationStatus.CONTOURED
    assert seen == [image_id]
    assert res.revision == 2


def test_edit_moves_labels_and_keeps_history(project):
    image_id = add_blank_image(project)
    res = svc.save_contour(project, image_id, square(20, 20, 60), annotator="dr.a")
    before = labels_of(project, image_id)
    svc.edit_contour(project, res.annotation_id, "dr.b", points=square(560, 780, 60), expected_revision=res.revision)
    after = labels_of(project, image_id)
    assert before.labels != after.labels
    assert after.labels[0] == "BN"
    with project.session() as s:
        hist = ann_store.history(s, res.annotation_id)
    assert [h[0] for h in hist] == ["create", "edit"]


def test_delete_is_soft_and_restorable(project):
    image_id = add_blank_image(project)
    res = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a")
    svc.delete_contour(project, res.annotation_id, "dr.a")
    assert set(labels_of(project, image_id).labels) == {None}
    with project.session() as s:
        assert image_store.get_image(s, image_id).status is AnnotationStatus.NOT_ANNOTATED
        assert ann_store.list_annotations(s, image_id) == []
        assert len(ann_store.list_annotations(s, image_id, include_deleted=True)) == 1
    svc.restore_contour(project, res.annotation_id, "dr.a")
    assert "M" in labels_of(project, image_id).labels


def test_stale_revision_refused_and_nothing_written(project):
    image_id = add_blank_image(project)
    res = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a")
    svc.save_contour(project, image_id, square(400, 400, 80), annotator="dr.b", expected_revision=res.revision)
    with pytest.raises(StaleImageError, match="changed by someone else"):
        svc.save_contour(project, image_id, square(300, 600, 80), annotator="dr.a", expected_revision=res.revision)
    assert len(svc.contours(project, image_id)) == 2  # the refused edit left nothing behind


def test_degenerate_contour_rejected_and_nothing_written(project):
    image_id = add_blank_image(project)
    with pytest.raises(InvalidContourError):
        svc.save_contour(project, image_id, [[0, 0], [10, 10]], annotator="dr.a")
    with pytest.raises(InvalidContourError, match="outside"):
        svc.save_contour(project, image_id, square(5000, 5000, 10), annotator="dr.a")
    assert svc.contours(project, image_id) == []
    assert set(labels_of(project, image_id).labels) == {None}


def test_contour_partly_off_image_is_clipped(project):
    image_id = add_blank_image(project, size=(448, 448))
    res = svc.save_contour(project, image_id, square(400, 400, 100), annotator="dr.a")
    assert res.repairs == ("clipped to the image border",)
    (ann,) = svc.contours(project, image_id)
    assert ann.polygon.bounds == (400, 400, 448, 448)


def test_no_malignant_confirmation(project):
    image_id = add_blank_image(project)
    svc.set_no_malignant(project, image_id, "dr.a")
    assert set(labels_of(project, image_id).labels) == {"BN"}
    svc.set_no_malignant(project, image_id, "dr.a", confirmed=False)
    assert set(labels_of(project, image_id).labels) == {None}
    svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a")
    with pytest.raises(MammoError, match="malignant contours"):
        svc.set_no_malignant(project, image_id, "dr.a")


def test_benign_contour_alone_does_not_label(project):
    image_id = add_blank_image(project)
    svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a", cls=LesionClass.BENIGN)
    assert set(labels_of(project, image_id).labels) == {None}
