"""The canvas's pan and right-drag window are bounded like its zoom: before, a drag could throw the
image off the canvas for good, widen the window without end or run its centre far past the data."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from mammo_annotator.core.windowing import SIGMOID, Window
from mammo_annotator.qt.image_view import MAX_WIDTH_OF_RANGE, MammoView

from .conftest import drag

H, W = 300, 200
PIXELS = (np.arange(H * W, dtype=np.uint32).reshape(H, W) % 3000 + 500).astype(np.uint16)  # 500..3499


@pytest.fixture
def view(qtbot):
    from mammo_annotator.qt.app import ensure_app

    ensure_app()
    v = MammoView()
    v.resize(800, 600)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    v.set_image(PIXELS, {"w": Window(2000, 1000, "w")})
    QApplication.processEvents()
    return v


def _middle(view) -> tuple[float, float]:
    c = view.vb.viewRect().center()
    return c.x(), c.y()


def _inside(view) -> bool:
    x, y = _middle(view)
    return 0 <= x <= W and 0 <= y <= H


def test_a_long_pan_keeps_the_image_on_the_canvas(view):
    for _ in range(6):  # each drag across the whole canvas, always the same way
        drag(view, [(700, 500), (400, 300), (100, 100)], image_coords=False)
    assert _inside(view)  # was: the middle 2000 px beyond the image, an empty canvas
    x, y = _middle(view)
    assert x == pytest.approx(W, abs=0.5) and y == pytest.approx(H, abs=0.5)  # stopped at the corner
    drag(view, [(100, 100), (300, 250)], image_coords=False)
    assert _middle(view)[0] < x - 5 and _middle(view)[1] < y - 5  # and it comes straight back


def test_zooming_in_beside_the_image_brings_it_back_under_the_view(view):
    view.vb.scaleBy((0.2, 0.2), center=QPointF(-10 * W, -10 * H))
    assert _inside(view)  # was: the view 16 image widths away
    view.fit()
    before = view.vb.viewRect()
    view.vb.scaleBy((0.5, 0.5), center=QPointF(W / 2, H / 2))  # an ordinary zoom is untouched
    after = view.vb.viewRect()
    assert after.center().x() == pytest.approx(before.center().x())
    assert after.width() == pytest.approx(before.width() / 2)


def test_the_right_drag_window_stays_within_the_data(view):
    lo, hi = float(PIXELS.min()), float(PIXELS.max())
    for _ in range(8):  # far right and far down: wider and brighter, far past any use
        drag(view, [(100, 100), (400, 400), (700, 580)], button=Qt.RightButton, image_coords=False)
    w = view.window
    assert w.width <= MAX_WIDTH_OF_RANGE * (hi - lo) + 1e-6  # was: a width of millions
    assert lo <= w.center <= hi  # was: a centre far above the brightest pixel
    assert w.width == pytest.approx(MAX_WIDTH_OF_RANGE * (hi - lo)) and w.center == pytest.approx(hi)
    drag(view, [(700, 580), (400, 300)], button=Qt.RightButton, image_coords=False)
    assert view.window.width < w.width and view.window.center < w.center  # one drag brings it back
    for _ in range(8):  # and the other way: the narrowest window, the centre at the darkest pixel
        drag(view, [(700, 580), (100, 100), (10, 10)], button=Qt.RightButton, image_coords=False)
    assert view.window.width == pytest.approx(1.0) and view.window.center == pytest.approx(lo)


def test_a_window_already_past_the_bounds_may_come_back_but_not_go_further(view):
    wide = Window(9000, 40000, "DICOM", SIGMOID)  # a header's window beyond the data
    view.set_window(wide)
    drag(view, [(100, 100), (300, 300)], button=Qt.RightButton, image_coords=False)  # wider, brighter
    assert view.window.width == wide.width and view.window.center == wide.center
    assert view.window.function == SIGMOID
    drag(view, [(300, 300), (200, 200)], button=Qt.RightButton, image_coords=False)  # narrower, darker
    assert view.window.width < wide.width and view.window.center < wide.center
