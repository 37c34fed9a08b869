"""Properties of contour edits over random states (hypothesis): a save followed by its delete
restores the previous labels and status; an export followed by an import into a blank twin
gives the same contours and region labels."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammo_annotator.core.types import LesionClass
from mammo_annotator.services import annotations as svc
from mammo_annotator.services import export as ex
from mammo_annotator.services.import_contours import import_contours
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square

SIZE = (448, 336)  # rows, columns: a 3 x 2 grid of 224 px windows at stride 112
_counter = itertools.count()

contour = st.tuples(st.integers(0, 300), st.integers(0, 420), st.integers(6, 160), st.sampled_from(list(LesionClass)))


def state(project, image_id):
    """Everything the labels of an image consist of, plus its status."""
    with project.session() as s:
        rs = region_store.region_set(s, region_store.grid_id_for(s, image_id))
        status = image_store.get_image(s, image_id).status
    iom = None if rs.iom is None else [round(float(v), 9) if v == v else None for v in rs.iom]
    return status, rs.labels, iom, rs.annotation_ids


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory):
    p = open_project(tmp_path_factory.mktemp("props") / "p.sqlite", create=True)
    yield p
    p.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(existing=st.lists(contour, max_size=3), new=contour, confirmed=st.booleans())
def test_save_then_delete_restores_the_labels(shared_project, existing, new, confirmed):
    project = shared_project
    image_id = add_blank_image(project, f"P{next(_counter)}", size=SIZE)
    if confirmed and not any(c[3] is LesionClass.MALIGNANT for c in existing):
        svc.set_no_malignant(project, image_id, "dr.a")
    for x, y, side, cls in existing:
        svc.save_contour(project, image_id, square(x, y, side), "dr.a", cls=cls)
    before = state(project, image_id)
    x, y, side, cls = new
    res = svc.save_contour(project, image_id, square(x, y, side), "dr.b", cls=cls)
    if cls is LesionClass.MALIGNANT:
        during = state(project, image_id)
        assert during[0].value == "contoured" and "M" in during[1]
    svc.delete_contour(project, res.annotation_id, "dr.b")
    after = state(project, image_id)
    if before[0].value == "no_malignant" and cls is LesionClass.MALIGNANT:
        # a malignant contour replaced the confirmation; deleting it leaves the image to be annotated
        assert after[0].value == "not_annotated" and set(after[1]) == {None}
    else:
        assert after == before


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contours=st.lists(contour, min_size=1, max_size=4), fmt=st.sampled_from(["geojson", "coco"]))
def test_export_then_import_round_trips_contours_and_labels(tmp_path_factory, contours, fmt):
    folder = tmp_path_factory.mktemp("rt")
    source, twin = open_project(folder / "s.sqlite", create=True), open_project(folder / "t.sqlite", create=True)
    try:
        src_image = add_blank_image(source, "P1", size=SIZE)
        twin_image = add_blank_image(twin, "P1", size=SIZE)  # the same content hash
        for x, y, side, cls in contours:
            svc.save_contour(source, src_image, square(x, y, side), "dr.a", cls=cls)
        out = ex.export(source, fmt, folder / f"c.{fmt}", ex.ExportOptions(keep_ids=True)).path
        report = import_contours(twin, [out])
        assert report.skipped == [] and report.unmatched == [] and report.contours == len(contours)

        def outlines(project, image_id):
            return sorted((a.cls.value, a.polygon.bounds, round(a.polygon.area, 6)) for a in svc.contours(project, image_id))

        assert outlines(twin, twin_image) == outlines(source, src_image)
        s_state, t_state = state(source, src_image), state(twin, twin_image)
        assert s_state[:3] == t_state[:3]  # status, labels, IoM (annotation ids are the twin's own)
        # the twin's ids point at its own contours with the same outlines
        src_by_id = {a.id: a.polygon.bounds for a in svc.contours(source, src_image)}
        twin_by_id = {a.id: a.polygon.bounds for a in svc.contours(twin, twin_image)}
        assert [src_by_id.get(a) for a in s_state[3]] == [twin_by_id.get(a) for a in t_state[3]]
    finally:
        source.close()
        twin.close()
