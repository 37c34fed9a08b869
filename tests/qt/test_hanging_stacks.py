"""Four-view hanging with several images of one view: the tile says "1 of 2" and steps to the
other image (one image per tile hid a repeated exposure or a spot view coded as MLO)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from mammo_annotator.core.types import WeakLabel
from mammo_annotator.services import viewing
from mammo_annotator.services.importing import ImportItem, import_items

from .factory import synthetic_mammogram


def _ids(project) -> dict[str, int]:
    return {f"{r.patient}:{r.side}": r.image_id for r in viewing.worklist(project)}


def _repeat_lmlo(project, folder, study: str = "P001-S1") -> tuple[int, np.ndarray]:
    """A second L-MLO of patient P001 (another exposure), imported as the reader's PACS would."""
    pixels = synthetic_mammogram(512, 416, "L", "MLO", (0.3, 0.7), seed=99)
    path = folder / f"P001_LMLO_repeat_{study}.png"
    Image.fromarray(pixels).save(path)
    report = import_items(project, [ImportItem(path=path, patient_key="P001", study_key=study, weak=WeakLabel(1, 0),
                                               laterality="L", view="MLO", label_source="test")])
    assert not report.failed, report.failed
    new = max(r.image_id for r in viewing.worklist(project) if r.patient == "P001" and r.side == "L-MLO")
    return new, pixels


def _shown(pane) -> np.ndarray:
    return np.fliplr(pane.view.pixels) if pane.flipped else pane.view.pixels


def test_a_view_with_two_images_counts_them_and_steps_between_them(window, project, qtbot, tmp_path):
    ids = _ids(project)
    repeat, pixels = _repeat_lmlo(project, tmp_path)
    bundle = viewing.load_bundle(project, ids["P001:L-CC"])
    assert [r.id for r in bundle.views["L-MLO"]] == [ids["P001:L-MLO"], repeat]  # the first one hung, as before
    assert bundle.hanging["L-MLO"].id == ids["P001:L-MLO"]

    window.open_image(ids["P001:L-MLO"])
    window.open_image(ids["P001:L-CC"])
    QTest.keyClick(window, Qt.Key_H)
    panes = window.four.panes
    pane = panes["L-MLO"]
    assert pane.count.isVisible() and pane.next.isVisible() and pane.prev.isVisible()
    assert pane.count.text() == "1 of 2" and "2 L-MLO images" in pane.count.toolTip()
    for key in ("R-CC", "L-CC", "R-MLO"):  # one image: no counter, no arrows
        assert not panes[key].count.isVisible() and not panes[key].next.isVisible()
    assert "normal" in panes["R-CC"].title.text() and "malignant" in panes["L-CC"].title.text()  # words, not "N", "M"

    QTest.mouseClick(pane.next, Qt.LeftButton)
    assert pane.record.id == repeat and pane.count.text() == "2 of 2"
    assert np.array_equal(_shown(pane), pixels)  # the other image is on the tile, not only its number
    QTest.mouseClick(pane.next, Qt.LeftButton)  # round to the first
    assert pane.record.id == ids["P001:L-MLO"] and pane.count.text() == "1 of 2"
    QTest.mouseClick(pane.prev, Qt.LeftButton)
    assert pane.record.id == repeat

    window.four._open("L-MLO")  # a double-click opens the image the tile shows
    qtbot.waitUntil(lambda: window.page.image_id == repeat)
    assert window.center.currentWidget() is window.page.view


def test_an_image_of_another_study_says_so(window, project, qtbot, tmp_path):
    ids = _ids(project)
    prior, _ = _repeat_lmlo(project, tmp_path, study="P001-S0")
    window.open_image(ids["P001:L-MLO"])
    window.open_image(ids["P001:L-CC"])
    QTest.keyClick(window, Qt.Key_H)
    pane = window.four.panes["L-MLO"]
    assert pane.count.text() == "1 of 2" and "another study" not in pane.title.text()
    window.four.step("L-MLO", 1)
    assert pane.record.id == prior and "another study" in pane.title.text()


def test_the_four_views_hang_with_the_chest_walls_at_the_centre_line(window, project, qtbot):
    """Back to back as on a reading workstation: a fitted image's spare width goes to the outer
    side, so the right breast's chest wall touches the centre line from the left and the left
    breast's from the right (before, each image sat in the middle of its tile), also after the
    window is resized; a reader's zoom is kept as it is."""
    ids = _ids(project)
    window.open_image(ids["P001:L-CC"])
    QTest.keyClick(window, Qt.Key_H)
    panes = window.four.panes

    def hung_at_the_centre() -> None:
        for key, pane in panes.items():
            w = pane.view.pixels.shape[1]
            (x0, x1), _ = pane.view.vb.viewRange()
            assert x1 - x0 > 1.1 * w, (key, x0, x1)  # a tile wider than its image: there is spare width
            if pane.chest_right:  # the left column: image at the right edge, black on the left
                assert abs(x1 - 1.02 * w) < 0.01 * w, (key, x0, x1)
            else:
                assert abs(x0 + 0.02 * w) < 0.01 * w, (key, x0, x1)

    hung_at_the_centre()
    window.resize(window.width() + 300, window.height())
    qtbot.wait(50)
    hung_at_the_centre()

    pane = panes["L-MLO"]
    pane.view.vb.setRange(xRange=(100, 200), yRange=(100, 200), padding=0)
    pane.view.unfit()  # as a reader's zoom does
    zoomed = pane.view.vb.viewRange()
    window.resize(window.width() - 200, window.height())
    qtbot.wait(50)
    centre = [(a + b) / 2 for a, b in pane.view.vb.viewRange()]
    assert abs(centre[0] - 150) < 5 and abs(centre[1] - 150) < 5, (zoomed, pane.view.vb.viewRange())
