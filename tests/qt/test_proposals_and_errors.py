"""Model proposals on the canvas; bad input (stale edit, missing file, off-image contour,
read-only database) gives a clear message and no crash; import runs in a worker thread."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from mammo_annotator.core.types import LesionClass, Polygon
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import cad, viewing
from mammo_annotator.services.pixels import cache_dir

from .conftest import click


def _lcc(project) -> int:
    return next(r.image_id for r in viewing.worklist(project) if r.patient == "P001" and r.side == "L-CC")


def _messages(window) -> list[str]:
    return [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_marks_only_above_the_operating_threshold_ranked_by_d(window, project, qtbot):
    window.worklist.select_image(_lcc(project))
    overlay, panel = window.page.proposals, window.cad
    assert "demo-v1" in panel.model_name.text()
    assert "p(M) = " in panel.image_probs.text()
    pred = window.page.bundle.prediction
    assert pred.p_m > 0.5 > pred.p_b  # the demo model: L-CC malignant, not benign
    # no validation patients in the demo project: the documented default threshold applies
    assert panel.thr["M"].value() == cad.DEFAULT_THRESHOLD and "default" in panel.source.text()
    shown = overlay.shown
    assert shown and all(p.cls == "M" for p in shown)  # p(B) 0.30 < 0.50: no benign marks
    scores = [p.score for p in shown]
    assert scores == sorted(scores, reverse=True)  # ranked by d_M
    assert all(s >= cad.MIN_RELATIVE * scores[0] for s in scores)
    x0, y0, x1, y1 = shown[0].box
    assert x0 < 187 < x1 and y0 < 205 < y1  # the top mark sits on the mass
    labels = [item.toPlainText() for item in overlay.items if hasattr(item, "toPlainText")]
    assert labels[-len(shown):][0].startswith("M1 ") and all(" 0.00" not in t for t in labels)
    assert "region score" in overlay.items[0].toolTip() and "model v1" in overlay.items[0].toolTip()
    legend = window.page.view.corners["bottom"].text()
    assert "model v1" in legend and "threshold 0.50" in legend
    # a threshold above this image's p(M): no marks, and the legend says why
    panel.thr["M"].setValue(round(pred.p_m + 0.05, 2))
    assert overlay.shown == [] and "no marks" in window.page.view.corners["bottom"].text()
    panel.thr["B"].setValue(0.2)  # below p(B) = 0.30: benign marks appear
    assert overlay.shown and all(p.cls == "B" for p in overlay.shown)
    panel.reset.click()  # back to the validation (here: default) thresholds
    assert panel.thr["M"].value() == cad.DEFAULT_THRESHOLD and all(p.cls == "M" for p in overlay.shown)
    panel.top_k.setValue(1)
    assert len(overlay.shown) == 1
    QTest.keyClick(window, Qt.Key_T)  # toggle all marks off
    assert overlay.items == []
    QTest.keyClick(window, Qt.Key_T)
    assert overlay.items
    QTest.keyClick(window, Qt.Key_M)  # heat map of p(malignant | region) instead of the marks
    assert overlay.heat.isVisible() and overlay.items == []
    heat, rec = overlay.heat.image, window.page.bundle.record
    scale = max(1.0, max(rec.height, rec.width) / 512)  # score_map's default resolution
    assert heat.shape == (int(np.ceil(rec.height / scale)), int(np.ceil(rec.width / scale)))
    assert heat[int(205 / scale), int(187 / scale)] == pytest.approx(heat.max())  # hottest on the mass
    assert heat.max() == pytest.approx(float(pred.region_scores[:, 2].max()))  # p_cls(M) on a fixed 0-1 scale
    assert panel.mode.currentData() == "heat" and "Heat map" in window.page.view.corners["bottom"].text()
    panel.heat_opacity.setValue(30)
    assert abs(overlay.heat.opacity() - 0.3) < 1e-6
    QTest.keyClick(window, Qt.Key_M)
    assert not overlay.heat.isVisible() and overlay.items


def test_operating_point_from_the_validation_images(project):
    """With validation patients stored, the threshold is the one at sensitivity 0.85 on their images."""
    from mammo_annotator.ml.metrics import operating_point

    rows = viewing.worklist(project)
    project.set_setting("validation_patients", sorted({r.patient for r in rows}))
    vid = viewing.active_model(project).id
    op = cad.operating_point(project, vid, "M")
    y = np.array([1.0 if r.weak in ("M", "MB") else 0.0 for r in rows])
    p = np.array([r.p_m for r in rows])
    assert op.source == "validation" and op.n_positive == int(y.sum()) and op.n_negative == int((1 - y).sum())
    assert op.threshold == max(cad.MIN_THRESHOLD, operating_point(y, p, 0.85)[0])
    assert "sensitivity 0.85" in op.describe()


def test_a_validation_threshold_near_zero_is_raised_so_normal_images_get_no_marks(project, monkeypatch):
    """The benign class of a weak model can reach sensitivity 0.85 only at p = 0.00: marks would
    then sit on every image; the floor keeps them to images with p(c) >= MIN_THRESHOLD."""
    rows = viewing.worklist(project)
    project.set_setting("validation_patients", sorted({r.patient for r in rows}))
    vid = viewing.active_model(project).id
    assert cad.operating_point(project, vid, "B").threshold > cad.MIN_THRESHOLD  # the demo separates B
    monkeypatch.setattr(cad, "threshold_at_sensitivity", lambda y, p, s: 0.0)  # a model that does not
    low = cad.operating_point(project, vid, "B")
    assert low.threshold == cad.MIN_THRESHOLD and "minimum" in low.describe()
    assert cad.threshold_at_sensitivity(np.array([1, 1, 0]), np.array([0.0, 0.0, 0.5]), 0.85) == 0.0


def test_freshness_counts_images_annotated_after_the_model(window, project, qtbot):
    image_id = _lcc(project)
    window.worklist.select_image(image_id)
    assert "includes every annotation" in window.cad.freshness.text()
    ann_service.save_contour(project, image_id, Polygon.from_array([(150, 150), (250, 150), (250, 250)]), "other")
    qtbot.waitUntil(lambda: "1 image(s) annotated since v1" in window.cad.freshness.text())
    assert "not in v1 yet" in window.page.view.corners["bottom"].text()


def test_proposals_distinct_by_non_maximum_suppression(project):
    b = viewing.load_bundle(project, _lcc(project))
    props = b.proposals("M", 5)
    for i, p in enumerate(props):
        for q in props[i + 1:]:
            ix = max(0, min(p.box[2], q.box[2]) - max(p.box[0], q.box[0]))
            iy = max(0, min(p.box[3], q.box[3]) - max(p.box[1], q.box[1]))
            area = (p.box[2] - p.box[0]) * (p.box[3] - p.box[1])
            assert ix * iy / (2 * area - ix * iy) <= 0.3


def test_stale_edit_is_refused_and_reloaded(window, project, qtbot):
    image_id = _lcc(project)
    window.worklist.select_image(image_id)
    QTest.keyClick(window, Qt.Key_P)
    for x, y in [(150, 150), (250, 150), (250, 250)]:
        click(window.page.view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    mine = ann_service.contours(project, image_id)[0]
    # someone else (another app instance: no event reaches us) edits the same image
    from mammo_annotator.services.project import open_project

    other = open_project(project.path)
    ann_service.edit_contour(other, mine.id, "colleague", points=Polygon.from_array([(10, 10), (90, 10), (90, 90)]))
    other.close()
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # my undo would delete their contour
    qtbot.waitUntil(lambda: any("changed by someone else" in t for t in _messages(window)))
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1 and anns[0].annotator == "colleague"  # not silently overwritten
    qtbot.waitUntil(lambda: window.page.bundle.record.revision == viewing.image_record(project, image_id).revision)
    assert np.allclose(window.page.contours.records[0].polygon.as_array().min(0), (10, 10))


def test_missing_image_file_gives_message(qtbot, tmp_path, monkeypatch):
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow

    from .factory import DEFAULT_IMAGES, build_demo_project

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "own-cache"))
    project = build_demo_project(tmp_path / "p", images=DEFAULT_IMAGES[:2], with_model=False)
    rec = viewing.image_record(project, 1)
    shutil.rmtree(cache_dir())
    (tmp_path / "p" / rec.source_path.split("/")[-1]).unlink()
    ensure_app()
    w = MainWindow(project, "tester", temp_settings())
    qtbot.addWidget(w)
    w.show()
    w.worklist.select_image(1)
    qtbot.waitUntil(lambda: any("disappeared" in t for t in _messages(w)))
    assert w.page.image_id is None and w.page.view.pixels is None
    w.worklist.select_image(2)  # the other image still opens
    assert w.page.image_id == 2
    w.close()
    project.close()


def test_contour_off_the_image_gives_message(window, project, qtbot):
    window.worklist.select_image(_lcc(project))
    window.page._on_outline(np.array([(-300.0, -300.0), (-200.0, -300.0), (-200.0, -200.0)]))
    qtbot.waitUntil(lambda: any("outside the image" in t for t in _messages(window)))
    assert ann_service.contours(project, _lcc(project)) == []


def test_read_only_database_gives_message(window, project, qtbot):
    from sqlalchemy import event

    event.listen(project.engine, "connect", lambda conn, _r: conn.execute("PRAGMA query_only=ON"))
    project.engine.dispose()  # new connections are read-only
    window.worklist.select_image(_lcc(project))
    QTest.keyClick(window, Qt.Key_N)  # confirm "no malignant": a write
    qtbot.waitUntil(lambda: any("read-only" in t for t in _messages(window)))
    assert viewing.image_record(project, _lcc(project)).status.value == "not_annotated"


def test_import_runs_in_a_worker_and_reports_failures(window, project, qtbot, tmp_path):
    good = tmp_path / "new.png"
    rng = np.random.default_rng(5)
    Image.fromarray((rng.integers(0, 4000, size=(300, 240))).astype(np.uint16)).save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    worker = window.importer.start([good, bad])
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    assert worker.wait(5000) and not worker.is_running()
    report = window.importer.last_report
    assert len(report.imported) == 1 and len(report.failed) == 1
    assert report.failed[0][0].endswith("broken.png") and report.failed[0][1]
    qtbot.waitUntil(lambda: window.importer.report_dialog is not None and window.importer.report_dialog.isVisible())
    assert window.importer.report_dialog.table.rowCount() >= 1
    assert window.worklist.proxy.rowCount() == 7


def test_import_can_be_stopped(window, project, qtbot, tmp_path):
    paths = []
    for k in range(6):
        p = tmp_path / f"s{k}.png"
        Image.fromarray(np.full((200, 160), 100 + k, dtype=np.uint16)).save(p)
        paths.append(p)
    worker = window.importer.start(paths)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.stop()  # early: the token is checked between images
    worker.wait(5000)
    assert window.importer.last_report.cancelled
    qtbot.waitUntil(lambda: window.importer.report_dialog is not None and window.importer.report_dialog.isVisible())
    assert len(window.importer.last_report.imported) < 6


def test_render_screenshot_headless(project, tmp_path, qtbot):
    from mammo_annotator.qt.app import render_screenshot

    path = str(project.path)
    project.close()
    out = tmp_path / "shot.png"
    render_screenshot(path, out)
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[1] >= 1000 and img.shape[0] >= 600
    # the mammogram is on it: a large area of grey pixels (R = G = B) in many distinct levels,
    # which the window's own chrome never has
    grey = (img[..., 0] == img[..., 1]) & (img[..., 1] == img[..., 2])
    levels = np.unique(img[..., 0][grey])
    assert grey.mean() > 0.15 and len(levels) >= 128, (grey.mean(), len(levels))
    QApplication.processEvents()


def test_stop_button_reaches_a_running_task(qtbot):
    """Stop must reach the task while it runs (the worker's own thread is busy)."""
    import time

    from mammo_annotator.core.progress import check_cancel
    from mammo_annotator.qt.dialogs import ProgressDialog
    from mammo_annotator.qt.workers import TaskWorker

    def task(progress, cancel):
        for i in range(200):
            progress(i, 200, "working")
            check_cancel(cancel)
            time.sleep(0.01)
        return "finished"

    worker = TaskWorker(task, "test")
    dialog = ProgressDialog("Test")
    qtbot.addWidget(dialog)
    worker.progress.connect(dialog.update_progress)
    dialog.stopRequested.connect(lambda: worker.stop())
    with qtbot.waitSignal(worker.progress, timeout=5000):
        worker.start()
    with qtbot.waitSignal(worker.stopped, timeout=5000):
        dialog.stop.click()
    assert worker.wait(5000) and worker.state == "STOPPED"
    assert dialog.bar.value() < 199


def test_throwaway_settings_are_removed_at_exit(tmp_path):
    """Each screenshot and test run left a mammo-settings-* folder behind in the temp folder."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from mammo_annotator.qt.app import ensure_app, temp_settings\n"
            "ensure_app(); s = temp_settings(); s.setValue('k', 1); s.sync(); print(s.fileName())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    settings_file = Path(out.stdout.strip().splitlines()[-1])
    assert settings_file.name == "settings.ini" and not settings_file.parent.exists()
