"""Contours become region labels in the same transaction; edits never lose anything."""

from __future__ import annotations

import pytest

from mammo_annotator.core.errors import InvalidContourError, MammoError
from mammo_annotator.core.types import AnnotationStatus, LesionClass
from mammo_annotator.services import annotations as svc
from mammo_annotator.store import annotations as ann_store
from mammo_annotator.store import batches
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from mammo_annotator.store.images import StaleImageError
from tests.helpers import add_blank_image, square


def labels_of(project, image_id):
    with project.session() as s:
        rs = region_store.region_set(s, region_store.grid_id_for(s, image_id))
    return rs


def expected_labels(boxes, malignant_squares, alpha=0.5):
    """(label, annotation id) per region from plain rectangle overlap arithmetic: the rule of
    method section 4 for square contours (x0, y0, side, annotation id), independent of shapely."""
    out = []
    for x0, y0, x1, y1 in boxes:
        best, ann = 0.0, None
        for sx, sy, side, ann_id in malignant_squares:
            w = max(0.0, min(x1, sx + side) - max(x0, sx))
            h = max(0.0, min(y1, sy + side) - max(y0, sy))
            iom = w * h / min((x1 - x0) * (y1 - y0), side * side)
            if iom > best:
                best, ann = iom, ann_id
        out.append(("M" if best >= alpha else "BN" if best == 0 else "ignored", ann))
    return out


def labelled(project, image_id):
    rs = labels_of(project, image_id)
    return list(zip(rs.labels, rs.annotation_ids)), rs


def status_of(project, image_id):
    with project.session() as s:
        return image_store.get_image(s, image_id).status


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
    assert list(zip(before.labels, before.annotation_ids)) == expected_labels(before.boxes, [(20, 20, 60, res.annotation_id)])
    # the new location became M (by the same annotation), the old one BN
    assert list(zip(after.labels, after.annotation_ids)) == expected_labels(after.boxes, [(560, 780, 60, res.annotation_id)])
    assert after.labels[0] == "BN" and after.labels[-1] == "M" and after.annotation_ids[-1] == res.annotation_id
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
    with pytest.raises(MammoError, match="^the image has malignant contours; delete them before confirming 'no malignant finding'$"):
        svc.set_no_malignant(project, image_id, "dr.a")


def test_benign_contour_alone_does_not_label(project):
    image_id = add_blank_image(project)
    svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a", cls=LesionClass.BENIGN)
    assert set(labels_of(project, image_id).labels) == {None}


def test_delete_one_of_several_malignant_contours(project):
    image_id = add_blank_image(project)
    a = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a").annotation_id
    b = svc.save_contour(project, image_id, square(150, 130, 120), annotator="dr.a").annotation_id
    c = svc.save_contour(project, image_id, square(450, 700, 60), annotator="dr.a").annotation_id
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(100, 100, 80, a), (150, 130, 120, b), (450, 700, 60, c)])
    svc.delete_contour(project, b, "dr.a")
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(100, 100, 80, a), (450, 700, 60, c)])  # from the survivors only
    assert b not in rs.annotation_ids and status_of(project, image_id) is AnnotationStatus.CONTOURED
    svc.delete_contour(project, a, "dr.a")
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(450, 700, 60, c)])
    svc.restore_contour(project, b, "dr.a")
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(150, 130, 120, b), (450, 700, 60, c)])


def test_switching_a_contours_class_moves_status_and_labels(project):
    image_id = add_blank_image(project)
    a = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a").annotation_id
    svc.edit_contour(project, a, "dr.b", cls=LesionClass.BENIGN)  # M -> B: no malignant contour is left
    assert status_of(project, image_id) is AnnotationStatus.NOT_ANNOTATED
    assert set(labels_of(project, image_id).labels) == {None}
    (ann,) = svc.contours(project, image_id)
    assert ann.cls is LesionClass.BENIGN and ann.polygon.bounds == (100, 100, 180, 180)
    b = svc.save_contour(project, image_id, square(400, 500, 60), annotator="dr.a").annotation_id
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(400, 500, 60, b)])  # the benign one labels nothing
    svc.edit_contour(project, a, "dr.b", cls=LesionClass.MALIGNANT)  # B -> M: it labels again
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(100, 100, 80, a), (400, 500, 60, b)])
    svc.edit_contour(project, b, "dr.b", cls=LesionClass.BENIGN)
    got, rs = labelled(project, image_id)
    assert got == expected_labels(rs.boxes, [(100, 100, 80, a)]) and status_of(project, image_id) is AnnotationStatus.CONTOURED
    with project.session() as s:
        assert [h[0] for h in ann_store.history(s, a)] == ["create", "edit", "edit"]


def test_benign_switch_on_a_confirmed_negative_keeps_it_labelled(project):
    image_id = add_blank_image(project)
    svc.set_no_malignant(project, image_id, "dr.a")
    ben = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a", cls=LesionClass.BENIGN)
    assert status_of(project, image_id) is AnnotationStatus.NO_MALIGNANT and set(labels_of(project, image_id).labels) == {"BN"}
    svc.edit_contour(project, ben.annotation_id, "dr.a", cls=LesionClass.MALIGNANT)
    got, rs = labelled(project, image_id)
    assert status_of(project, image_id) is AnnotationStatus.CONTOURED
    assert got == expected_labels(rs.boxes, [(100, 100, 80, ben.annotation_id)])
    svc.delete_contour(project, ben.annotation_id, "dr.a")
    assert status_of(project, image_id) is AnnotationStatus.NOT_ANNOTATED  # the confirmation was replaced


@pytest.mark.parametrize("alpha", [0.2, 0.9])
def test_the_projects_alpha_decides_the_labels(project, alpha):
    project.set_setting("alpha", alpha)
    image_id = add_blank_image(project)
    # a 100 px square straddling windows: IoM 0.3 with some, 0.7 with others, 1 with those containing it
    res = svc.save_contour(project, image_id, square(194, 194, 100), annotator="dr.a")
    got, rs = labelled(project, image_id)
    want = expected_labels(rs.boxes, [(194, 194, 100, res.annotation_id)], alpha)
    assert got == want and want != expected_labels(rs.boxes, [(194, 194, 100, res.annotation_id)], 0.5)
    with project.session() as s:
        alphas = {row[-2] for row in batches.region_label_rows(s)}
    assert alphas == {alpha}  # each label records the alpha it was computed with
    other = svc.save_contour(project, image_id, square(500, 700, 50), annotator="dr.a").annotation_id
    svc.delete_contour(project, other, "dr.a")  # every relabelling path uses the project's alpha
    assert labelled(project, image_id)[0] == want


def test_contour_import_warns_on_alpha_mismatch_and_uses_its_own(project, tmp_path):
    from mammo_annotator.services import export as ex
    from mammo_annotator.services.import_contours import import_contours
    from mammo_annotator.services.project import open_project

    image_id = add_blank_image(project)
    res = svc.save_contour(project, image_id, square(194, 194, 100), annotator="dr.a")
    out = ex.export(project, "geojson", tmp_path / "c.geojson", ex.ExportOptions(keep_ids=True)).path
    twin = open_project(tmp_path / "twin.sqlite", create=True)
    try:
        twin.set_setting("alpha", 0.25)
        twin_image = add_blank_image(twin)  # the same content hash as the exported image
        report = import_contours(twin, [out])
        assert report.images == 1 and report.contours == 1
        assert len(report.warnings) == 1 and "alpha 0.5" in report.warnings[0] and "0.25" in report.warnings[0]
        (ann,) = svc.contours(twin, twin_image)
        got, rs = labelled(twin, twin_image)
        assert got == expected_labels(rs.boxes, [(194, 194, 100, ann.id)], 0.25)
        twin.set_setting("alpha", 0.5)
        assert import_contours(twin, [out], replace=True).warnings == []  # same alpha: no warning
    finally:
        twin.close()
    assert res.annotation_id is not None


def test_every_edit_emits_once_bumps_the_revision_and_refuses_stale_revisions(project):
    image_id = add_blank_image(project)
    seen = []
    project.events.connect("annotations_changed", lambda image_id: seen.append(image_id))
    res = svc.save_contour(project, image_id, square(100, 100, 80), annotator="dr.a", source="imported")
    (ann,) = svc.contours(project, image_id)
    assert ann.source == "imported" and ann.annotator == "dr.a" and res.revision == 2
    steps = [
        lambda rev: svc.edit_contour(project, res.annotation_id, "dr.b", points=square(120, 100, 80), expected_revision=rev),
        lambda rev: svc.delete_contour(project, res.annotation_id, "dr.b", expected_revision=rev),
        lambda rev: svc.restore_contour(project, res.annotation_id, "dr.b", expected_revision=rev),
        lambda rev: svc.edit_contour(project, res.annotation_id, "dr.b", cls=LesionClass.BENIGN, expected_revision=rev),
        lambda rev: svc.set_no_malignant(project, image_id, "dr.b", expected_revision=rev),
    ]
    rev = res.revision
    for k, step in enumerate(steps):
        before = labelled(project, image_id)[0], status_of(project, image_id)
        with pytest.raises(StaleImageError):
            step(rev - 1)  # someone else's older view of the image
        assert (labelled(project, image_id)[0], status_of(project, image_id)) == before  # nothing written
        out = step(rev)
        assert out.image_id == image_id and out.revision == rev + 1 and out.repairs == ()
        assert out.annotation_id == (None if k == 4 else res.annotation_id)
        rev = out.revision
        assert seen == [image_id] * (k + 2)
    assert status_of(project, image_id) is AnnotationStatus.NO_MALIGNANT  # a benign contour does not block it
    assert set(labels_of(project, image_id).labels) == {"BN"}
    edit = svc.edit_contour(project, res.annotation_id, "dr.b", points=square(300, 400, 300))
    assert edit.repairs == () and svc.edit_contour(project, res.annotation_id, "dr.b",
                                                    points=square(600, 800, 200)).repairs == ("clipped to the image border",)


def test_an_images_labels_come_from_its_own_contours_only(project):
    a = add_blank_image(project, "PA")
    b = add_blank_image(project, "PB")
    ra = svc.save_contour(project, a, square(100, 100, 80), annotator="dr.a")
    svc.set_no_malignant(project, b, "dr.a")
    rb = svc.save_contour(project, b, square(400, 600, 60), annotator="dr.a", cls=LesionClass.BENIGN)
    assert (ra.image_id, rb.image_id) == (a, b)
    assert [c.id for c in svc.contours(project, a)] == [ra.annotation_id]
    assert [c.id for c in svc.contours(project, b)] == [rb.annotation_id] and svc.contours(project, a)[0].source == "drawn"
    got, rs = labelled(project, a)
    assert got == expected_labels(rs.boxes, [(100, 100, 80, ra.annotation_id)])
    assert set(labels_of(project, b).labels) == {"BN"}  # a's malignant contour does not reach b
    svc.delete_contour(project, ra.annotation_id, "dr.a")
    assert set(labels_of(project, b).labels) == {"BN"} and status_of(project, b) is AnnotationStatus.NO_MALIGNANT


def test_every_grid_of_an_image_is_relabelled_and_cleared(project):
    """An image scored at two grid sizes: a contour labels both, withdrawing it clears both."""
    from mammo_annotator.core.regions import region_grid
    from mammo_annotator.core.types import GridSpec

    import numpy as np

    image_id = add_blank_image(project)
    fine = GridSpec(size_px=112, stride_px=56)
    with project.session() as s:
        rec = image_store.get_image(s, image_id)
        region_store.add_grid(s, image_id, fine, None, region_grid(np.ones((rec.height, rec.width), dtype=bool), fine))
        grids = region_store.grids_of_image(s, image_id)
    assert len(grids) == 2
    res = svc.save_contour(project, image_id, square(240, 240, 60), annotator="dr.a")
    with project.session() as s:
        for g in grids:
            assert "M" in region_store.region_set(s, g).labels
    svc.delete_contour(project, res.annotation_id, "dr.a")
    assert status_of(project, image_id) is AnnotationStatus.NOT_ANNOTATED
    with project.session() as s:
        for g in grids:
            assert set(region_store.region_set(s, g).labels) == {None}
