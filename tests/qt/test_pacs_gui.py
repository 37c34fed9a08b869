"""The viewer on a machine without a PACS image's file: it is retrieved in the background while the
canvas says so, the window keeps working (another image may be opened meanwhile), and the image
is shown or the reason it cannot be is given in a message. Against a real Orthanc, reached through
``GatedFront``, a relay whose gate holds the PACS's answer until the test releases it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.types import GridSpec
from mammo_annotator.services import viewing
from mammo_annotator.services.dicomweb import import_dicomweb
from mammo_annotator.services.pacs_fetch import cached_path
from mammo_annotator.services.project import open_project
from tests import orthanc_server as orth
from tests.services.export_helpers import write_mg_dicom


def _messages(window) -> list[str]:
    return [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()]


@pytest.fixture
def front(orthanc):
    gated = orth.GatedFront(orthanc)
    yield gated
    gated.close()


@pytest.fixture
def pacs_window(orthanc, front, qtbot, tmp_path, monkeypatch):
    """Two PACS images imported through the front on machine A; on machine B (this window) image A's
    file is missing, image B's is here. The gate is closed when the window opens. Yields
    (window, project, {"a": (id, source DICOM, Orthanc id), "b": ...})."""
    yield from _window(orthanc, front, qtbot, tmp_path, monkeypatch, patients=(1, 2))


@pytest.fixture
def one_patient_window(orthanc, front, qtbot, tmp_path, monkeypatch):
    """As ``pacs_window``, but A (L-CC, file missing) and B (R-CC, here) are one patient's views."""
    yield from _window(orthanc, front, qtbot, tmp_path, monkeypatch, patients=(1, 1))


def _window(orthanc, front, qtbot, tmp_path, monkeypatch, patients: tuple[int, int]):
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow

    monkeypatch.delenv("MAMMO_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MAMMO_DICOMWEB_USER", orth.USER)
    monkeypatch.setenv("MAMMO_DICOMWEB_PASSWORD", orth.PASSWORD)
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "machine-a-cache"))
    sources = {"a": write_mg_dicom(tmp_path / "a.dcm", patients[0], 640, 512, "L"),
               "b": write_mg_dicom(tmp_path / "b.dcm", patients[1], 640, 512, "R")}
    uploads = {k: orthanc.upload(src)["ID"] for k, src in sources.items()}
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
    report = import_dicomweb(project, front.dicomweb, store=tmp_path / "store")
    assert report.failed == [] and len(report.imported) == 2
    by_uid = {pydicom.dcmread(src, stop_before_pixels=True).SOPInstanceUID: k for k, src in sources.items()}
    images = {}
    for image_id in report.imported:
        record = viewing.image_record(project, image_id)
        key = by_uid[record.sop_instance_uid]
        images[key] = (image_id, sources[key], uploads[key])
        if key == "a":
            Path(record.source_path).unlink()  # machine B lacks image A's file
    project.close()
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "machine-b-cache"))  # another machine
    front.connections = 0
    front.hold()

    project = open_project(tmp_path / "p.sqlite")
    ensure_app()
    w = MainWindow(project, "tester", temp_settings())
    qtbot.addWidget(w)
    w.show()
    try:
        yield w, project, images
    finally:
        front.release()  # the retrieval and thumbnail threads get their answer and end
        assert w.page.retrieval.wait(60) and w.four.retrieval.wait(60)
        assert w.importer.shutdown()
        w.close()
        project.close()


def _pixels(window) -> np.ndarray:
    return np.asarray(window.page.view.pixels)


def _retrieving_shown(window, image_id: int) -> bool:
    return (window.page.retrieving and window.page.view.notice.isVisible()
            and f"Retrieving image {image_id} from the PACS…" in window.page.view.notice_text())


def test_the_window_keeps_working_while_an_image_is_retrieved(pacs_window, front, qtbot):
    w, _project, images = pacs_window
    a_id, a_src, _ = images["a"]
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    try:
        w.worklist.select_image(a_id)
        assert _retrieving_shown(w, a_id)  # at once, before the PACS has answered: the open did not wait
        assert w.page.image_id is None and w.page.view.pixels is None  # no other image under its name
        seen = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) >= seen + 5, timeout=10000)  # the event loop runs during the retrieval
        assert _retrieving_shown(w, a_id) and front.connections >= 1  # still held at the PACS
        front.release()
        qtbot.waitUntil(lambda: w.page.image_id == a_id, timeout=30000)
    finally:
        timer.stop()
    assert np.array_equal(_pixels(w), read_image(a_src).pixels)
    assert not w.page.retrieving and not w.page.view.notice.isVisible() and _messages(w) == []
    assert w.page.retrieval.wait(30)
    assert front.connections == 1  # the viewer and the thumbnail thread did not both retrieve it


def test_another_image_opened_meanwhile_stays_when_the_retrieval_ends(pacs_window, front, qtbot):
    w, _project, images = pacs_window
    (a_id, a_src, _), (b_id, b_src, _) = images["a"], images["b"]
    w.worklist.select_image(a_id)
    assert _retrieving_shown(w, a_id)
    w.worklist.select_image(b_id)  # the reader moves on while the PACS has not answered
    assert w.page.image_id == b_id and np.array_equal(_pixels(w), read_image(b_src).pixels)
    assert not w.page.retrieving and not w.page.view.notice.isVisible()

    front.release()
    assert w.page.retrieval.wait(30)
    qtbot.waitUntil(lambda: not w.page.retrieval.busy, timeout=10000)  # its late outcome has been handled
    qtbot.wait(50)
    assert w.page.image_id == b_id and np.array_equal(_pixels(w), read_image(b_src).pixels)
    assert not w.page.view.notice.isVisible() and _messages(w) == []

    w.worklist.select_image(a_id)  # retrieved meanwhile: it opens at once
    assert w.page.image_id == a_id and np.array_equal(_pixels(w), read_image(a_src).pixels)


def test_a_failed_retrieval_says_why_and_a_late_failure_says_nothing(pacs_window, orthanc, front, qtbot):
    w, project, images = pacs_window
    (a_id, a_src, a_upload), (b_id, _b_src, _) = images["a"], images["b"]
    orthanc.rest("DELETE", f"/instances/{a_upload}")  # the PACS no longer holds image A
    name = f"image {a_id} ({viewing.image_record(project, a_id).display_name})"

    w.worklist.select_image(a_id)
    assert _retrieving_shown(w, a_id)
    w.worklist.select_image(b_id)
    front.release()
    assert w.page.retrieval.wait(30)
    qtbot.waitUntil(lambda: not w.page.retrieval.busy, timeout=10000)
    qtbot.wait(50)
    assert w.page.image_id == b_id and _messages(w) == []  # a failure for an image no longer shown: no message

    w.worklist.select_image(a_id)
    qtbot.waitUntil(lambda: any(name in t and "no longer holds the instance" in t for t in _messages(w)), timeout=30000)
    assert any(t.startswith("The image cannot be shown.") for t in _messages(w))
    assert w.page.image_id is None and w.page.view.pixels is None
    assert not w.page.retrieving and not w.page.view.notice.isVisible()
    assert not cached_path(viewing.image_record(project, a_id)).exists()  # nothing half-written
    for box in w.findChildren(QMessageBox):
        box.close()

    orthanc.upload(a_src)  # back on the PACS: the next open retrieves it
    assert w.page.open_image(a_id) is False and _retrieving_shown(w, a_id)
    qtbot.waitUntil(lambda: w.page.image_id == a_id, timeout=30000)
    assert np.array_equal(_pixels(w), read_image(a_src).pixels)


def _pane_shows(pane, src) -> bool:
    if pane.view.pixels is None:
        return False
    want = read_image(src).pixels
    return np.array_equal(np.asarray(pane.view.pixels), np.fliplr(want) if pane.flipped else want)


def test_four_view_retrieves_a_view_in_the_background_and_fills_its_pane(one_patient_window, front, qtbot):
    w, _project, images = one_patient_window
    (a_id, a_src, _), (b_id, b_src, _) = images["a"], images["b"]
    w.worklist.select_image(b_id)
    assert w.page.image_id == b_id
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    try:
        w.four_action.trigger()  # L-CC (image A) is only on the PACS, whose answer is held
        assert w.center.currentWidget() is w.four
        left, right = w.four.panes["L-CC"], w.four.panes["R-CC"]
        assert "retrieving from the PACS" in left.title.text() and left.view.pixels is None
        assert "Retrieving L-CC from the PACS" in left.view.notice_text() and right.view.notice_text() == ""
        assert _pane_shows(right, b_src) and w.four.retrieving  # the local view is shown at once
        seen = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) >= seen + 5, timeout=10000)  # the window did not wait for the PACS
        assert w.four.retrieving and front.connections >= 1
        front.release()
        qtbot.waitUntil(lambda: _pane_shows(left, a_src), timeout=30000)
    finally:
        timer.stop()
    assert not w.four.retrieving and "retrieving" not in left.title.text() and left.record.id == a_id
    assert left.view.notice_text() == ""
    assert _messages(w) == []


def test_four_view_says_why_a_view_is_unavailable_and_ignores_a_replaced_hanging(one_patient_window, orthanc,
                                                                                front, qtbot):
    w, project, images = one_patient_window
    (a_id, _a_src, a_upload), (b_id, _b_src, _) = images["a"], images["b"]
    orthanc.rest("DELETE", f"/instances/{a_upload}")  # the PACS no longer holds image A
    w.worklist.select_image(b_id)
    w.four_action.trigger()
    left = w.four.panes["L-CC"]
    assert "retrieving from the PACS" in left.title.text()
    front.release()
    qtbot.waitUntil(lambda: not w.four.retrieving, timeout=30000)
    assert left.title.text().endswith("image unavailable") and left.view.pixels is None and left.view.notice_text() == ""
    assert "no longer holds the instance" in w.statusBar().currentMessage()
    assert not cached_path(viewing.image_record(project, a_id)).exists()  # nothing half-written

    w.statusBar().clearMessage()
    front.hold()
    w.four.set_images({"L-CC": left.record}, b_id)  # a retrieval started for one hanging ...
    w.four.set_images({}, b_id)  # ... whose outcome comes after the hanging was replaced
    front.release()
    assert w.four.retrieval.wait(30)
    qtbot.waitUntil(lambda: not w.four.retrieval.busy, timeout=10000)
    qtbot.wait(50)
    assert "not in this study" in left.title.text() and w.statusBar().currentMessage() == ""
