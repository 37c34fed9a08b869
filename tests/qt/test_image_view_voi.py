"""The canvas shows the DICOM display the header asks for: a SIGMOID window as a sigmoid, a VOI LUT
Sequence as its table, read from the grey values on screen (offscreen Qt, a real widget grab).

Before, the "DICOM window" preset was always a linear centre / width window, and an image opened
from a project had nothing but its stored window to show.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.windowing import DICOM, SIGMOID
from mammo_annotator.qt.display_presets import display_presets, preset_for
from mammo_annotator.qt.image_view import MammoView
from tests.core.factories import make_dicom

from .conftest import drag

# 12-bit values from far below to far above the window, one per image pixel
VALUES = np.array([[200, 900, 1300, 1500, 1600, 1700, 1800, 1900],
                   [2000, 2048, 2100, 2200, 2300, 2500, 2800, 4000]], dtype=np.uint16)
IMAGE = np.kron(VALUES, np.ones((4, 4), np.uint16))  # 8 x 32: big enough for the breast mask


def _sigmoid(x, c, w):
    return 255.0 / (1.0 + np.exp(-4.0 * (np.asarray(x, float) - c) / w))


@pytest.fixture
def view(qtbot):
    from mammo_annotator.qt.app import ensure_app

    ensure_app()
    v = MammoView()
    v.resize(900, 500)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    return v


def _show(view, pixels, meta) -> None:
    view.set_image(pixels, display_presets(pixels, meta), default=preset_for(meta))
    QApplication.processEvents()


def _grey_on_screen(view) -> np.ndarray:
    """The grey the canvas shows at the middle of each 4 x 4 block of ``IMAGE``."""
    shot = view.grab().toImage()
    out = np.zeros(VALUES.shape, int)
    for r in range(VALUES.shape[0]):
        for c in range(VALUES.shape[1]):
            p = view.mapFromScene(view.vb.mapViewToScene(QPointF(4 * c + 2, 4 * r + 2)))
            color = shot.pixelColor(p)
            assert color.red() == color.green() == color.blue()
            out[r, c] = color.red()
    return out


def test_the_dicom_preset_of_a_sigmoid_image_shows_sigmoid_greys(view, tmp_path):
    p = make_dicom(tmp_path / "ge.dcm", IMAGE, WindowCenter="2048", WindowWidth="800", VOILUTFunction="SIGMOID")
    image = read_image(p)
    _show(view, image.pixels, image.meta)
    assert view.window.name == DICOM and view.window.function == SIGMOID
    shown = _grey_on_screen(view)
    expected = _sigmoid(VALUES, 2048, 800)
    assert np.abs(shown - expected).max() <= 1.0, (shown, np.rint(expected))
    assert shown[0, 0] == 0 and shown[1, 7] == 255 and 0 < shown[0, 2] < 20  # a linear window clips 1300 to 0
    view.set_inverted(True)
    QApplication.processEvents()
    assert np.abs(_grey_on_screen(view) - (255 - expected)).max() <= 1.0
    view.set_inverted(False)
    # a right-drag keeps the function: the reader adjusts the vendor's sigmoid, not a linear window
    drag(view, [(16, 4), (18, 4), (20, 4)], button=Qt.RightButton)
    assert view.window.function == SIGMOID and view.window.name == "custom" and view.window.width > 800
    QApplication.processEvents()
    assert np.abs(_grey_on_screen(view) - _sigmoid(VALUES, view.window.center, view.window.width)).max() <= 1.0


def _voi_lut_file(tmp_path):
    table = np.rint(4095 * (np.arange(4096) / 4095.0) ** 0.5).astype(np.uint16)  # a square-root curve
    src = make_dicom(tmp_path / "src.dcm", IMAGE)
    ds = pydicom.dcmread(src)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]
    item.add_new(0x00283006, "OW", table.astype("<u2").tobytes())
    ds.VOILUTSequence = Sequence([item])
    ds.save_as(tmp_path / "voi.dcm", enforce_file_format=True)
    return tmp_path / "voi.dcm", table


def test_a_voi_lut_sequence_is_shown_as_its_table(view, tmp_path):
    path, table = _voi_lut_file(tmp_path)
    image = read_image(path)
    _show(view, image.pixels, image.meta)
    assert view.window.name == DICOM and view.window.lut is not None
    expected = np.rint(table[VALUES].astype(float) * 255 / 4095)
    assert np.abs(_grey_on_screen(view) - expected).max() <= 1.0
    drag(view, [(16, 4), (18, 4)], button=Qt.RightButton)  # a table cannot be moved: its linear window is
    assert view.window.lut is None and view.window.name == "custom"


def test_an_image_opened_from_a_project_gets_its_header_display(view, tmp_path):
    """The database keeps the window only: the function and the table are re-read from the file."""
    from mammo_annotator.services import viewing
    from mammo_annotator.services.importing import ImportItem, ImportReport, import_one
    from mammo_annotator.services.pixels import load_pixels
    from mammo_annotator.services.project import open_project

    sigmoid = make_dicom(tmp_path / "ge.dcm", IMAGE, WindowCenter="2048", WindowWidth="800",
                         VOILUTFunction="SIGMOID", PatientID="P1")
    voi, table = _voi_lut_file(tmp_path)
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        report = ImportReport()
        ids = [import_one(project, ImportItem(path=p), report) for p in (sigmoid, voi)]
        assert None not in ids, report.failed
        records = [viewing.load_bundle(project, i).record for i in ids]
    finally:
        project.close()
    assert not hasattr(records[0], "voi_function")  # what the viewer is given
    _show(view, load_pixels(records[0]), records[0])
    assert view.window.name == DICOM and view.window.function == SIGMOID
    assert np.abs(_grey_on_screen(view) - _sigmoid(VALUES, 2048, 800)).max() <= 1.0
    _show(view, load_pixels(records[1]), records[1])
    assert view.window.name == DICOM and view.window.lut is not None
    assert np.abs(_grey_on_screen(view) - np.rint(table[VALUES].astype(float) * 255 / 4095)).max() <= 1.0
