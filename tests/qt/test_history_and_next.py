"""Model history ("Use this version" swaps the proposals), the annotation-cost plot, the
active-learning queue ("Next image" opens the top suggestion) and the File menu's dataset
import and export."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from mammo_annotator.qt.theme import local_time
from mammo_annotator.services import viewing
from mammo_annotator.services.active_learning import suggest
from mammo_annotator.services.model_history import active_version, annotation_cost_points

from .test_training_gui import _draw


def _row_of(panel, version_id: int) -> int:
    return next(r for r, v in enumerate(panel.versions) if v.id == version_id)


def test_history_lists_versions_and_use_this_version_switches_proposals(trained_window, trained_project, qtbot):
    w, hist = trained_window, trained_window.model_ui.history
    assert [v.id for v in hist.versions] == [2, 1] and hist.versions[0].is_active
    assert hist.table.item(0, 0).text() == "● v2" and hist.table.item(0, 2).text() == "active"
    v1 = hist.versions[1]
    assert hist.table.item(1, 3).text().startswith(str(v1.summary["n_images"]))  # training images (+ validation)
    assert hist.table.item(1, 5).text() == str(v1.summary["n_local"])
    assert hist.table.item(1, 10).text() == f"{v1.metrics['val_M_vs_BN/auroc']:.3f}"  # AUROC when trained
    assert hist.table.item(1, 1).text() == local_time(v1.created_at)  # one date format
    # every version re-scored on the same validation images: the numbers that compare (once the
    # Model history tab is shown: a closed dock costs nothing)
    assert hist.comparison is None
    w.model_ui.show_model_docks(w.model_ui.history_dock)
    qtbot.waitUntil(lambda: hist.comparison is not None, timeout=60_000)
    c = hist.comparison
    assert set(c.loss) == {1, 2} and c.image_ids and f"same {len(c.image_ids)} validation images" in hist.same.text()
    assert hist.table.item(1, 7).text() == f"{c.loss[1]:.3f}" and hist.table.item(0, 7).text() == f"{c.loss[2]:.3f}"
    assert "too few" in hist.same.text()  # 4 patients: an AUROC on so few images means little
    assert "extractor" in hist.table.item(1, 0).toolTip()
    # the annotation-cost plot: one point per version, x = locally annotated training images
    pts = annotation_cost_points(trained_project)
    xs, ys = hist.cost.scatter.getData()
    assert sorted(xs.tolist()) == sorted(float(p[1]) for p in pts) and len(pts) == 2
    before = w.page.bundle.prediction
    assert before.model_version_id == 2 and "v2" in w.cad.image_probs.text()
    hist.table.selectRow(_row_of(hist, 1))
    assert hist.use.isEnabled()
    QTest.mouseClick(hist.use, Qt.LeftButton)
    assert active_version(trained_project).id == 1
    qtbot.waitUntil(lambda: w.page.bundle.prediction.model_version_id == 1)
    assert not np.allclose(w.page.bundle.prediction.region_scores, before.region_scores)
    assert "v1" in w.cad.model_name.text() and "v1" in w.cad.image_probs.text()
    assert all("model v1" in item.toolTip() for item in w.page.proposals.items)
    assert hist.versions[_row_of(hist, 1)].is_active and not hist.use.isEnabled()
    rows = {r.image_id: r.p_m for r in viewing.worklist(trained_project)}
    assert {r.image_id: r.p_m for r in w.worklist.model.rows} == rows


def test_next_image_opens_the_top_suggestion_and_the_queue_follows_edits(trained_window, trained_project, qtbot):
    w, panel = trained_window, trained_window.model_ui.suggestions
    ranked = suggest(trained_project, "cost-effective")
    assert len(ranked) == 2 and panel.table.rowCount() == 2
    assert panel.table.item(0, 3).text() == ranked[0].reason and "p(M)=" in ranked[0].reason
    assert w.page.image_id not in {s.image_id for s in ranked}
    QTest.keyClick(w, Qt.Key_N, Qt.ShiftModifier)  # Model > Next suggested image
    qtbot.waitUntil(lambda: w.page.image_id == ranked[0].image_id)
    QTest.mouseClick(panel.next, Qt.LeftButton)  # again: the next one, not the image on screen
    qtbot.waitUntil(lambda: w.page.image_id == ranked[1].image_id)
    _draw(w, qtbot, ranked[1].image_id)  # contouring it takes it off the queue
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1)
    assert panel.suggestions[0].image_id == ranked[0].image_id
    panel.strategy.setCurrentText("uncertainty")  # another strategy, its own ranking and reasons
    assert [s.image_id for s in panel.suggestions] == [s.image_id for s in suggest(trained_project, "uncertainty")][:50]
    assert all("entropy" in panel.table.item(r, 3).text() for r in range(panel.table.rowCount()))


def test_import_dataset_runs_in_the_import_worker(trained_window, trained_project, qtbot, tmp_path):
    folder = tmp_path / "mias"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for ref in ("mdb001", "mdb002"):
        Image.fromarray(rng.integers(0, 255, (1024, 1024), dtype=np.uint8)).save(folder / f"{ref}.png")
    (folder / "Info.txt").write_text("mdb001 G CIRC M 535 425 60\nmdb002 F NORM\n")
    n_before = len(viewing.worklist(trained_project))
    worker = trained_window.importer.start_dataset("mini-mias", folder)
    assert worker is not None
    qtbot.waitUntil(lambda: trained_window.importer.last_report is not None, timeout=60_000)
    assert worker.wait(10_000)
    report = trained_window.importer.last_report
    assert len(report.imported) == 2, (report.failed, report.warnings)
    assert len(trained_window.worklist.model.rows) == n_before + 2
    trained_window.importer.report_dialog.close()


def test_file_export_opens_the_export_dialog(window, qtbot):
    from mammo_annotator.qt.export_dialog import ExportDialog

    assert window.export_action.isEnabled()
    window.export_action.trigger()
    dialog = window.export_dialog
    assert isinstance(dialog, ExportDialog) and dialog.isVisible() and dialog.project is window.project
    dialog.reject()


def test_next_image_and_use_version_say_why_when_they_cannot(window, qtbot):
    """With nothing to suggest, Shift+N did nothing visible; so did Use the selected version with
    no version selected."""
    from mammo_annotator.core.types import AnnotationStatus
    from mammo_annotator.store import images as image_store

    w = window
    project = w.page.project
    with project.session() as s:
        for im in image_store.list_images(s):
            image_store.set_status(s, im.id, AnnotationStatus.NO_MALIGNANT)
    w.model_ui.suggestions.refresh()
    assert w.model_ui.next_image() is None
    assert w.statusBar().currentMessage() == "No next image to suggest: every image is annotated"
    w.model_ui.history.table.clearSelection()
    w.model_ui.use_action.trigger()
    assert "Select a version in the model history first" in w.statusBar().currentMessage()
