"""Background retraining driven through the window: auto-retrain after annotating, Stop, a failing
job, and GUI writes while a job reads. Real widgets, real key and mouse events, real training
(5 epochs, one thread) on a 16-image synthetic project."""

from __future__ import annotations

import dataclasses
import os
import signal

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import viewing
from mammo_annotator.services.jobs import JobState
from mammo_annotator.services.model_history import active_version, list_versions
from mammo_annotator.services.training import TrainingRequest

from .conftest import click

TIMEOUT_MS = 240_000  # generous: the machine is shared and loaded (a backbone refresh took over 90 s at load 6)


def _todo(project) -> list[int]:
    return [r.image_id for r in viewing.worklist(project) if r.status == "not_annotated"]


def _draw(window, qtbot, image_id: int, offset: int = 0) -> None:
    """Open the image from the worklist and draw a polygon with the mouse, closed by Return."""
    window.worklist.select_image(image_id)
    qtbot.waitUntil(lambda: window.page.image_id == image_id)
    window.page.view.fit()
    QTest.keyClick(window, Qt.Key_P)
    x, y = 150 + offset, 150 + offset
    for px, py in ((x, y), (x + 60, y + 5), (x + 55, y + 60), (x, y + 50)):
        click(window.page.view, px, py)
    QTest.keyClick(window, Qt.Key_Return)
    QTest.keyClick(window, Qt.Key_V)


def _errors(window) -> list[str]:
    return [b.text() for b in window.findChildren(QMessageBox) if b.isVisible()]


def _proposal_state(window) -> tuple:
    b = window.page.bundle
    return b.prediction.model_version_id, b.prediction.region_scores.round(5).tobytes()


def test_annotating_starts_a_retrain_that_activates_a_new_version(trained_window, trained_project, qtbot):
    w, ctl = trained_window, trained_window.model_ui.training
    panel = w.model_ui.training_panel
    before = active_version(trained_project).id
    # the policy "always": whether 5 warm epochs validate better on 16 images is chance (a version that
    # validates worse is kept, not activated: tests/services/test_activation.py); here the flow is tested
    ctl.queue.request = dataclasses.replace(ctl.queue.request, activate="always")
    panel.auto_n.setValue(2)  # through the widget: the setting reaches the queue and the project
    assert ctl.queue.auto_after == 2 and trained_project.setting("auto_retrain_after") == 2
    first, second = _todo(trained_project)[:2]
    _draw(w, qtbot, first)
    assert ann_service.contours(trained_project, first) and ctl.queue.running is None
    qtbot.waitUntil(lambda: "1 of 2" in panel.pending.text())
    old = _proposal_state(w)
    _draw(w, qtbot, second, offset=20)  # the second newly annotated image starts a job by itself
    assert ctl.queue.running is not None or ctl.queue.history
    qtbot.waitUntil(lambda: len(ctl.finished) == 1, timeout=TIMEOUT_MS)
    (job,) = ctl.finished
    assert job.state is JobState.DONE and job.reason == "2 newly annotated images", job.error
    assert job.outcome.activated, job.outcome.message
    new = job.outcome.version_id
    assert new != before and active_version(trained_project).id == new
    qtbot.waitUntil(lambda: w.page.bundle.prediction.model_version_id == new)  # no restart needed
    assert _proposal_state(w) != old
    assert f"v{new}" in w.cad.model_name.text() and f"v{new}" in w.cad.image_probs.text()
    assert "activated" in panel.outcome.text()
    assert w.model_ui.history.versions[0].id == new and w.model_ui.history.versions[0].is_active
    rows = {r.image_id: r for r in viewing.worklist(trained_project)}
    shown = {r.image_id: r for r in w.worklist.model.rows}
    assert all(shown[i].p_m == rows[i].p_m for i in rows)  # the worklist shows the new p(M)
    assert not _errors(w)


def test_stop_button_cancels_the_running_job(trained_window, trained_project, qtbot):
    w, ctl = trained_window, trained_window.model_ui.training
    panel = w.model_ui.training_panel
    before = active_version(trained_project).id
    ctl.queue.request = TrainingRequest(epochs=2000, num_threads=1)
    QTest.mouseClick(panel.retrain, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.stage == "train" and bool(panel.losses), timeout=TIMEOUT_MS)
    assert panel.stop.isEnabled() and "epoch" in panel.detail.text() and "elapsed" in panel.times.text()
    QTest.mouseClick(panel.retrain, Qt.LeftButton)  # a second request while one runs is queued
    qtbot.waitUntil(lambda: "Queued: job #2" in panel.queued.text())
    QTest.mouseClick(panel.stop, Qt.LeftButton)
    qtbot.waitUntil(lambda: ctl.queue.running is None and len(ctl.finished) == 2, timeout=TIMEOUT_MS)
    states = {j.id: j.state for j in ctl.finished}
    assert states == {1: JobState.STOPPED, 2: JobState.STOPPED}  # the queued one is dropped too
    assert "stopped" in panel.outcome.text() and not panel.stop.isEnabled()
    assert active_version(trained_project).id == before and len(list_versions(trained_project)) == 2


def test_failing_job_keeps_the_previous_model_and_shows_the_error(trained_window, trained_project, qtbot):
    w, ctl = trained_window, trained_window.model_ui.training
    ctl.queue.request = TrainingRequest(epochs=5000, num_threads=1)
    before = active_version(trained_project).id
    shown = _proposal_state(w)
    stages: list[str] = []  # the training process reports its epochs: the job has reached it
    ctl.queue.on_progress.append(lambda _job, stage, *_rest: stages.append(stage))
    QTest.keySequence(w, "Ctrl+R")  # Model > Retrain now
    # killed once the job runs in it: an idle process killed before is replaced, and the job ends well
    qtbot.waitUntil(lambda: "train" in stages and ctl.queue.worker.pid is not None, timeout=TIMEOUT_MS)
    os.kill(ctl.queue.worker.pid, signal.SIGKILL)  # the training process dies, as under the out-of-memory killer
    qtbot.waitUntil(lambda: len(ctl.finished) == 1, timeout=TIMEOUT_MS)
    job = ctl.finished[0]
    assert job.state is JobState.ERROR
    text = w.model_ui.training_panel.outcome.text()
    assert "failed" in text and "ended unexpectedly" in text and f"v{before} stays active" in text
    assert active_version(trained_project).id == before and _proposal_state(w) == shown


def test_gui_writes_succeed_while_a_job_reads(trained_window, trained_project, qtbot):
    w, ctl = trained_window, trained_window.model_ui.training
    ctl.queue.request = TrainingRequest(epochs=150, num_threads=1)
    images = _todo(trained_project)
    ctl.retrain()
    qtbot.waitUntil(lambda: ctl.queue.running is not None)
    written = []
    for k, image_id in enumerate(images):
        if ctl.queue.running is None:
            break
        _draw(w, qtbot, image_id, offset=10 * (k % 3))
        written.append(image_id)
        qtbot.wait(30)
    qtbot.waitUntil(lambda: len(ctl.finished) >= 1, timeout=TIMEOUT_MS)
    assert len(written) >= 2 and all(ann_service.contours(trained_project, i) for i in written)
    assert ctl.finished[0].state is JobState.DONE, ctl.finished[0].error
    assert not _errors(w)


def test_retrain_can_refresh_the_backbone_and_says_so(trained_window, trained_project, qtbot):
    from mammo_annotator.services.features import project_extractor

    w, ctl = trained_window, trained_window.model_ui.training
    panel = w.model_ui.training_panel
    ctl.queue.request = TrainingRequest(epochs=2, num_threads=1, augment=(), backbone_steps=2, warm_start=True)
    assert "backbone" not in panel.stages.text()  # heads only: no backbone stage shown
    panel.scope.setCurrentIndex(1)
    assert panel.backbone_choice() == "refresh" and panel.stages.text().find("backbone") >= 0
    seen = []
    ctl.bridge.progressed.connect(lambda job, stage, *_: seen.append(stage))
    QTest.mouseClick(panel.retrain, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(ctl.finished) == 1, timeout=TIMEOUT_MS)
    (job,) = ctl.finished
    assert job.state is JobState.DONE, job.error
    assert job.request.backbone == "refresh" and "backbone" in job.reason
    # the pretrained extractor's features may be computed first (fine-tuning starts from them), then the refresh
    assert "backbone" in seen and "train" in seen and seen.index("backbone") < seen.index("train")
    assert project_extractor(trained_project).key.startswith("learned-supervised")  # e.g. learned-supervised-efficientnet-lite0-…
    assert "backbone refreshed" in panel.outcome.text()
    assert job.outcome.activated == (job.outcome.state == "done")  # judged against the active version
    assert not _errors(w)
