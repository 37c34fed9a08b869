"""Adapt ``services.jobs.TrainingQueue``'s worker-thread callbacks to Qt signals.

The queue calls its listeners in the training thread. A signal emitted there and connected to a
slot of a QObject living in the GUI thread is delivered queued, in the GUI thread, so widgets are
only ever touched from the GUI thread. Stop is called directly on the queue (thread-safe), never
through a queued connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:  # services.jobs loads torch: imported when the first queue is built, not at start
    from ..services.jobs import Job, TrainingQueue


class JobBridge(QObject):
    """Re-emits the queue's state and progress callbacks as signals.

    ``stateChanged`` carries the job and its state *at emission time* (the Job object is shared
    with the worker and may have moved on by the time the GUI reads it).
    """

    stateChanged = Signal(object, str)  # job, JobState value
    progressed = Signal(object, str, int, int, str)  # job, stage, done, total, message

    def __init__(self, queue: TrainingQueue) -> None:
        super().__init__()
        self.queue = queue
        queue.on_state.append(self._on_state)
        queue.on_progress.append(self._on_progress)

    def _on_state(self, job: Job) -> None:
        self.stateChanged.emit(job, job.state.value)

    def _on_progress(self, job: Job, stage: str, done: int, total: int, message: str) -> None:
        self.progressed.emit(job, stage, int(done), int(total), str(message))

    def detach(self) -> None:
        for listeners, cb in ((self.queue.on_state, self._on_state), (self.queue.on_progress, self._on_progress)):
            if cb in listeners:
                listeners.remove(cb)
