"""The training queue imports torch (seconds): off the GUI thread, and built only once that import is done."""

from __future__ import annotations

import threading

from mammo_annotator.qt import training


def test_the_queue_waits_for_the_background_import_and_the_gui_keeps_running(window, qtbot, monkeypatch):
    controller = window.model_ui.training
    controller._queue_timer.stop()
    release = threading.Event()
    importing = threading.Thread(target=release.wait, name="training-warm-up", daemon=True)
    importing.start()
    monkeypatch.setattr(training, "_warm", importing)  # a background import still running
    controller._queue = None
    controller._queue_when_imported()
    assert controller._queue is None and controller._queue_timer.isActive()  # polled, not imported here
    ticks = []
    timer = training.QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.wait(300)
    assert len(ticks) > 5 and controller._queue is None  # the event loop runs while the import goes on
    release.set()
    qtbot.waitUntil(lambda: controller._queue is not None, timeout=10_000)
    timer.stop()
    controller.shutdown()


def test_the_warm_up_thread_imports_the_training_services():
    """In a fresh process: the thread, not the caller, brings in torch and the training services."""
    import subprocess
    import sys

    code = ("import sys; from mammo_annotator.qt import training; assert 'torch' not in sys.modules; "
            "training.warm_up().join(); print('mammo_annotator.services.jobs' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def _submitted(queue) -> bool:
    return queue.running is not None or queue.queued is not None or bool(queue.history)


def _importing(monkeypatch) -> threading.Event:
    release = threading.Event()
    importing = threading.Thread(target=release.wait, name="training-warm-up", daemon=True)
    importing.start()
    monkeypatch.setattr(training, "_warm", importing)  # a background import still running
    return release


def test_a_retrain_asked_for_during_the_import_starts_when_it_is_done(window, qtbot, monkeypatch):
    """Before: the click imported torch in the GUI thread, freezing the window for seconds."""
    controller = window.model_ui.training
    controller.shutdown()
    controller.project = window.page.project
    release = _importing(monkeypatch)
    messages: list[str] = []
    controller.message.connect(messages.append)
    assert controller.retrain() is None and controller._queue is None
    assert "still loading" in messages[-1]
    qtbot.wait(200)
    assert controller._queue is None  # nothing was imported or built in the GUI thread meanwhile
    release.set()
    qtbot.waitUntil(lambda: controller._queue is not None and _submitted(controller._queue), timeout=10_000)
    controller.shutdown()


def test_stop_drops_a_retrain_still_waiting_for_the_import(window, qtbot, monkeypatch):
    controller = window.model_ui.training
    controller.shutdown()
    controller.project = window.page.project
    release = _importing(monkeypatch)
    controller.retrain()
    controller.stop()
    release.set()
    qtbot.waitUntil(lambda: controller._queue is not None, timeout=10_000)
    qtbot.wait(200)
    assert not _submitted(controller._queue)  # the queue is ready; no job was submitted
    controller.shutdown()
