"""GUI test fixtures: a demo project per test (copied from one built per session), a main
window over it with throwaway settings, and helpers that drive the canvas with real events."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import pyqtgraph as pg  # noqa: E402  (a broken Qt install fails here, never skips)

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.helpers import open_copy  # noqa: E402

from .factory import build_demo_project  # noqa: E402

pg.setConfigOptions(imageAxisOrder="row-major", mouseRateLimit=-1)


@pytest.fixture(autouse=True)
def _pixel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path_factory.getbasetemp() / "pixel-cache"))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    import os

    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp_path_factory.getbasetemp() / "pixel-cache")
    folder = tmp_path_factory.mktemp("demo")
    project = build_demo_project(folder)
    path = project.path
    project.close()
    return path


@pytest.fixture
def project(demo_template, tmp_path):
    p = open_copy(demo_template, tmp_path)
    yield p
    p.close()


def shown_window(qtbot, project, size: tuple[int, int] = (1400, 900), annotator: str = "tester"):
    """A main window over ``project`` with throwaway settings (no saved layout: the first-start
    widths), at ``size``, shown and exposed."""
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow

    ensure_app()
    w = MainWindow(project, annotator, temp_settings())
    w.resize(*size)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    return w


@pytest.fixture
def window(qtbot, project):
    w = shown_window(qtbot, project)
    w.page.view.fit()
    QApplication.processEvents()
    yield w
    assert w.importer.shutdown(), "an import thread was left running"
    w.close()


def to_widget(view, x: float, y: float) -> QPoint:
    """Image pixel -> the canvas viewport's widget coordinates."""
    scene = view.vb.mapViewToScene(QPointF(x, y))
    return view.mapFromScene(scene)


def click(view, x: float, y: float, button=Qt.LeftButton) -> None:
    QTest.mouseClick(view.viewport(), button, Qt.NoModifier, to_widget(view, x, y))


def double_click(view, x: float, y: float) -> None:
    """What a real double-click delivers: press, release, double-click, release (QTest's
    mouseDClick alone sends only the double-click event in Qt 6)."""
    vp, p = view.viewport(), to_widget(view, x, y)
    QTest.mouseClick(vp, Qt.LeftButton, Qt.NoModifier, p)
    QTest.mouseDClick(vp, Qt.LeftButton, Qt.NoModifier, p)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, p)


def drag(view, points, button=Qt.LeftButton, image_coords: bool = True) -> None:
    """Press at the first point, move through the others with the button held, release at the last."""
    vp = view.viewport()
    pts = [to_widget(view, *p) if image_coords else QPoint(*p) for p in points]
    QTest.mousePress(vp, button, Qt.NoModifier, pts[0])
    for p in pts[1:]:
        ev = QMouseEvent(QEvent.MouseMove, QPointF(p), QPointF(vp.mapToGlobal(p)), Qt.NoButton, button, Qt.NoModifier)
        QApplication.sendEvent(vp, ev)
    QTest.mouseRelease(vp, button, Qt.NoModifier, pts[-1])
    QApplication.processEvents()


def circle(cx: float, cy: float, r: float, n: int = 24) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]


# a small trained project for the training / history / active-learning tests --------------------
@pytest.fixture(scope="session")
def trained_template(tmp_path_factory) -> Path:
    """16 synthetic images (512 x 416) with cached features and two model versions: v1 trained
    on every contour, v2 (active) after the contours of one malignant breast were removed, so the
    cost-effective strategy has two images to suggest and the cost plot two points."""
    import os

    from mammo_annotator.services import annotations as ann_service
    from mammo_annotator.services import viewing
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.training import TrainingRequest, run_training
    from tests.helpers import synthetic_project_file

    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp_path_factory.getbasetemp() / "pixel-cache")
    folder = tmp_path_factory.mktemp("trained")
    path = synthetic_project_file(folder, n_patients=4, seed=5)
    project = open_project(path)
    run_training(project, TrainingRequest(epochs=5, num_threads=1))
    first = next(r for r in viewing.worklist(project) if r.weak == "M")
    for row in viewing.worklist(project):
        if row.patient == first.patient and row.laterality == first.laterality:
            for ann in ann_service.contours(project, row.image_id):
                ann_service.delete_contour(project, ann.id, "template")
    run_training(project, TrainingRequest(epochs=5, num_threads=1, activate="always"))
    project.close()
    return path


@pytest.fixture
def trained_project(trained_template, tmp_path):
    p = open_copy(trained_template, tmp_path)
    yield p
    p.close()


@pytest.fixture
def trained_window(qtbot, trained_project):
    """The main window over the trained project; its retrain jobs use 5 epochs on one thread."""
    from mammo_annotator.services.training import TrainingRequest

    w = shown_window(qtbot, trained_project)
    w.model_ui.training.queue.request = TrainingRequest(epochs=5, warm_start=True, num_threads=1)
    yield w
    assert w.model_ui.shutdown(), "a training thread was left running"
    assert w.importer.shutdown(), "an import thread was left running"
    w.close()
    assert not any(t.name.startswith("training-job") and t.is_alive() for t in threading.enumerate())
