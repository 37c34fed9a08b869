"""Background retraining in the app: owns the project's ``TrainingQueue`` and feeds the panel.

The queue runs jobs in its own worker process on its own database connection; its callbacks
arrive here, from the queue's waiting thread, through ``JobBridge`` signals (queued, so in the
GUI thread). The auto-retrain threshold is a
project setting, so every annotator of the project (and the CLI) sees the same one.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from ..core.errors import MammoError
from ..services import viewing
from ..services.project import Project
from .code_consent import confirm_torchscript
from .heap import collector_paused, freeze_long_lived
from .job_bridge import JobBridge
from .training_panel import TrainingPanel, outcome_text

if TYPE_CHECKING:  # services.jobs / services.training load torch and scikit-learn (seconds)
    from ..services.jobs import Job, TrainingQueue
    from ..services.training import TrainingRequest

AUTO_SETTING = "auto_retrain_after"
DEFAULT_AUTO = 5
QUEUE_DELAY_MS = 3000  # the queue (and torch) load this long after start, or at the first use
_warm: threading.Thread | None = None


def app_request() -> "TrainingRequest":
    """What the app's jobs train: warm-started, on one thread so the GUI stays fluid."""
    from ..services.training import TrainingRequest

    return TrainingRequest(warm_start=True, num_threads=1)


def _import_lazy_modules() -> None:
    # The queue's modules import torch (seconds); imported in the GUI thread they froze the
    # window for 4-5 s a moment after start. Here, in a background thread, the GIL is released
    # between the import's steps. torch then imports torch._dynamo (~1 s) the first time an
    # optimiser is built: pay that once, early, too.
    # The import creates some 300,000 permanent objects: with the collector on, it ran several
    # full collections over them meanwhile, each stalling the window for 70-160 ms.
    with collector_paused():
        try:
            from ..services import jobs  # noqa: F401  (torch and the training services)
            import torch._dynamo  # noqa: F401
        except Exception:  # an early import, never a reason to fail: the first use imports again
            pass
        freeze_long_lived("torch and the training services are loaded")


def warm_up() -> threading.Thread:
    """Start the lazy imports of the first training job in the background (once per process)."""
    global _warm
    if _warm is None:
        _warm = threading.Thread(target=_import_lazy_modules, name="training-warm-up", daemon=True)
        _warm.start()
    return _warm


class TrainingController(QObject):
    """Retrain / Stop / auto-retrain for the window's project."""

    jobFinished = Signal(object)  # Job, after the panel shows its outcome
    message = Signal(str)  # status-bar text
    _counted = Signal()  # the queue counted an edit (any thread): refresh the pending line

    def __init__(self, panel: TrainingPanel, request: "TrainingRequest | None" = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.request = request
        self.project: Project | None = None
        self._queue: TrainingQueue | None = None
        self._retrain_waiting = False  # Retrain was asked for before the training modules had loaded
        self._auto: int | None = DEFAULT_AUTO
        self.bridge: JobBridge | None = None
        self._queue_timer = QTimer(self)  # a child: it dies with the window, never fires after it
        self._queue_timer.setSingleShot(True)
        self._queue_timer.timeout.connect(self._queue_when_imported)
        self._counted.connect(self.refresh_pending, Qt.QueuedConnection)
        self.finished: list[Job] = []
        self._active_at_start: dict[int, int | None] = {}
        panel.retrainRequested.connect(self.retrain)
        panel.stopRequested.connect(self.stop)
        panel.autoChanged.connect(self.set_auto)

    def attach(self, project: Project) -> None:
        self.shutdown()
        self.project = project
        try:
            confirm_torchscript(self.panel, project)  # a project's TorchScript extractor runs only once allowed
        except (MammoError, OSError):
            pass  # unreadable setting or file: the training job then reports it
        try:
            auto = project.setting(AUTO_SETTING, DEFAULT_AUTO)
        except MammoError:
            auto = DEFAULT_AUTO
        self._auto = int(auto) or None
        self.panel.set_auto(self._auto)
        self.refresh_pending()
        # the queue imports torch (seconds): built a moment after the window shows, or at first use
        self._queue_timer.start(QUEUE_DELAY_MS)

    @property
    def queue(self) -> "TrainingQueue | None":
        """The project's training queue, built on first use (None without a project)."""
        return self._ensure_queue()

    def _queue_when_imported(self) -> None:
        """Build the queue once the background import of its modules has finished (polled, so
        no signal ever reaches a window that has closed meanwhile)."""
        if self._queue is not None or self.project is None:
            return
        if warm_up().is_alive():
            self._queue_timer.start(100)
            return
        self._ensure_queue()
        if self._retrain_waiting:
            self._retrain_waiting = False
            self.retrain()

    def _ensure_queue(self) -> "TrainingQueue | None":
        if self._queue is None and self.project is not None:
            with collector_paused():  # at once, before the warm-up finished: import here, as it does
                from ..services.jobs import TrainingQueue

                freeze_long_lived("the training services are loaded")
            warm_up()
            self._queue = TrainingQueue(self.project, auto_after=self._auto, request=self.request or app_request())
            self._queue.start_worker()  # its process imports torch meanwhile, not at the first Retrain
            self.bridge = JobBridge(self._queue)
            # explicit queued connections: the listeners run in the training thread
            self.bridge.stateChanged.connect(self._on_state, Qt.QueuedConnection)
            self.bridge.progressed.connect(self.panel.show_progress, Qt.QueuedConnection)
            # after the queue's own listener (it may be built after the window's): show its count
            self.project.events.connect("annotations_changed", self._on_annotations)
            self.refresh_pending()
        return self._queue

    def _on_annotations(self, *_args, **_kw) -> None:
        self._counted.emit()

    # user actions -------------------------------------------------------------------------
    @Slot()
    def retrain(self) -> Job | None:
        """Submit a retrain; None when there is no project, or while the training modules are
        still loading in the background (the retrain is then submitted as soon as they are:
        importing them here froze the window for seconds after a quick first click)."""
        if self._queue is None and self.project is not None and warm_up().is_alive():
            self._retrain_waiting = True
            self.message.emit("Retrain starts in a moment: the training modules are still loading")
            self._queue_timer.start(100)
            return None
        if self.queue is None:
            return None
        choice = self.panel.backbone_choice()
        if choice == "refresh":
            job = self.queue.submit("requested: backbone refresh", dataclasses.replace(self.queue.request, backbone=choice))
        else:
            job = self.queue.submit("requested")
        if self.queue.queued is job:
            self.message.emit(f"Retrain queued behind job #{self.queue.running.id}" if self.queue.running else "Retrain queued")
        return job

    @Slot()
    def stop(self) -> None:
        """Called in the GUI thread; the job stops at its next cancel check (a Retrain still
        waiting for the training modules is dropped)."""
        self._retrain_waiting = False
        if self._queue is not None:
            self._queue.stop()

    @Slot(int)
    def set_auto(self, n: int) -> None:
        if self.project is None:
            return
        self._auto = n or None
        if self._queue is not None:
            self._queue.auto_after = n or None
        try:
            self.project.set_setting(AUTO_SETTING, int(n))
        except MammoError as exc:
            self.message.emit(f"Auto-retrain setting not saved: {exc}")
        self.refresh_pending()

    def refresh_pending(self) -> None:
        q = self._queue
        self.panel.set_pending(q.pending_annotations if q is not None else 0, q.auto_after if q is not None else self._auto)

    @property
    def busy(self) -> bool:
        q = self._queue
        return q is not None and (q.running is not None or q.queued is not None)

    # queue -> GUI -------------------------------------------------------------------------
    @Slot(object, str)
    def _on_state(self, job: Job, state: str) -> None:
        if self._queue is None:
            return
        self.panel.show_state(job, state, self._queue.queued)
        if state == "running":
            self._active_at_start[job.id] = self._active_id()  # what the new version is judged against
        if state in ("done", "error", "stopped"):
            before = self._active_at_start.pop(job.id, ...)
            if before is ...:  # finished before its start was seen here
                before = None if job.outcome is not None and job.outcome.activated else self._active_id()
            text, colour = outcome_text(job, before)
            self.panel.finish(job, text, colour)
            self.finished.append(job)
            self.message.emit(text)
            self.jobFinished.emit(job)
        self.refresh_pending()

    def _active_id(self) -> int | None:
        try:
            active = viewing.active_model(self.project)
        except MammoError:
            return None
        return active.id if active else None

    def shutdown(self) -> bool:
        """Stop the running job, drop the queued one, wait for the thread (none outlives us)."""
        ok = True
        self._queue_timer.stop()
        self._retrain_waiting = False  # a Retrain asked for on this project is not carried to the next
        if self._queue is not None:
            self._queue.project.events.disconnect("annotations_changed", self._on_annotations)
            self._queue.close()  # unsubscribes, stops, waits up to a minute
            ok = self._queue.running is None
        if self.bridge is not None:
            self.bridge.detach()
        self._queue, self.bridge = None, None
        if _warm is not None:
            _warm.join(30)
        return ok
