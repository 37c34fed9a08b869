"""Background retraining: one job at a time, at most one more queued, auto-triggered by annotation.

Qt-free (the GUI adapts callbacks to signals). A job runs ``training.run_training`` in the
queue's worker process (``job_worker``) on its *own* Project (own engine and sessions), so the
GUI keeps writing contours while the trainer reads, and never waits for the trainer's GIL; a WAL
database makes the sharing safe. A thread of this process waits for the job and relays its
progress. States follow MONAI Label: SUBMITTED -> RUNNING -> DONE / ERROR / STOPPED.
"""

from __future__ import annotations

import enum
import getpass
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from . import team
from ..store.engine import DatabaseError
from .job_worker import BusyElsewhere, JobFailed, JobWorker
from .project import Project
from .training import TrainingOutcome, TrainingRequest

log = logging.getLogger(__name__)
__all__ = ["BusyElsewhere", "Job", "JobState", "TrainingQueue"]


class JobState(str, enum.Enum):
    SUBMITTED = "submitted"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass
class Job:
    id: int
    request: TrainingRequest
    reason: str
    state: JobState = JobState.SUBMITTED
    outcome: TrainingOutcome | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


JobListener = Callable[[Job], None]
ProgressListener = Callable[[Job, str, int, int, str], None]


class TrainingQueue:
    """Runs training jobs for one project, one at a time.

    ``auto_after`` newly annotated images (distinct images whose contours changed since the
    last job was submitted) trigger a warm-started retrain by themselves when the queue is idle.
    """

    def __init__(self, project: Project, auto_after: int | None = 5, request: TrainingRequest | None = None,
                 num_threads: int = 1, holder: str | None = None):
        self.project = project
        self.holder = holder or team.holder_id(getpass.getuser())  # names this machine's job to the others
        self.auto_after = auto_after
        self.request = request or TrainingRequest(warm_start=True, num_threads=num_threads)
        self._lock = threading.Lock()
        self._running: Job | None = None
        self._queued: Job | None = None
        self._thread: threading.Thread | None = None
        self.worker = JobWorker()
        self._next_id = 1
        self._changed: set[int] = set()
        self.history: list[Job] = []
        self.on_state: list[JobListener] = []
        self.on_progress: list[ProgressListener] = []
        project.events.connect("annotations_changed", self._annotation_changed)

    # triggers ----------------------------------------------------------------------
    def submit(self, reason: str = "requested", request: TrainingRequest | None = None) -> Job | None:
        """Start a job now, or queue it behind the running one (a queued job is replaced, not added)."""
        with self._lock:
            job = Job(self._next_id, request or self.request, reason)
            self._next_id += 1
            self._changed.clear()
            if self._running is None:
                self._start(job)
            else:
                self._queued = job
        self._notify(job)
        return job

    def _annotation_changed(self, image_id: int, **kw: object) -> None:
        if kw.get("remote"):
            return  # another machine's edit: its own queue counts it
        with self._lock:
            self._changed.add(image_id)
            due = self.auto_after is not None and len(self._changed) >= self.auto_after
            idle = self._running is None and self._queued is None
        if due and idle:
            self.submit(f"{self.auto_after} newly annotated images")

    @property
    def pending_annotations(self) -> int:
        return len(self._changed)

    # control -----------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel the running job (it stops at its next step) and drop the queued one."""
        with self._lock:
            queued, self._queued = self._queued, None
            running = self._running
        if queued is not None:
            queued.state = JobState.STOPPED
            self._notify(queued)
        if running is not None:
            running.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job runs or is queued (for tests and shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
                busy = self._running is not None or self._queued is not None
            if not busy:
                return True
            if thread is not None:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                return False

    @property
    def running(self) -> Job | None:
        return self._running

    @property
    def queued(self) -> Job | None:
        return self._queued

    def start_worker(self) -> None:
        """Start the worker process now, so the first job does not wait for its imports."""
        self.worker.start()

    def close(self) -> None:
        self.project.events.disconnect("annotations_changed", self._annotation_changed)
        self.stop()
        self.wait(60)
        self.worker.close()

    # worker ------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        self._running = job
        job.state, job.started = JobState.RUNNING, time.time()
        self._thread = threading.Thread(target=self._run, args=(job,), name=f"training-job-{job.id}", daemon=True)
        self._thread.start()

    def _run(self, job: Job) -> None:
        self._notify(job)
        try:
            if self.project.read_only:  # e.g. another instance holds this project file: it trains, not this one
                raise DatabaseError(self.project.location, f"is open read-only here ({self.project.read_only_why}); "
                                                           "retraining is off")
            outcome = self.worker.run(self.project.target, self.holder, job.request,
                                      lambda *a: self._progress(job, *a), job.cancel)
            job.outcome = outcome
            job.state = JobState.STOPPED if outcome.state == "cancelled" else JobState.DONE
        except (BusyElsewhere, JobFailed) as exc:
            job.state, job.error = JobState.ERROR, str(exc)
        except Exception as exc:  # shown to the user; the previous model stays active
            job.state, job.error = JobState.ERROR, f"{type(exc).__name__}: {exc}"
            log.error("training job %s failed:\n%s", job.id, traceback.format_exc())
        finally:
            job.finished = time.time()
        self.history.append(job)
        if job.outcome is not None and job.outcome.version_id is not None:
            # re-emit on the GUI's project: its subscribers reload proposals and the history
            self.project.events.emit("model_added", version_id=job.outcome.version_id)
            if job.outcome.activated:
                self.project.events.emit("model_activated", version_id=job.outcome.version_id)
        with self._lock:
            self._running = None
            nxt, self._queued = self._queued, None
            if nxt is not None:
                self._start(nxt)
        self._notify(job)

    def _progress(self, job: Job, stage: str, done: int, total: int, message: str) -> None:
        for cb in list(self.on_progress):
            try:
                cb(job, stage, done, total, message)
            except Exception:
                log.exception("progress listener failed")

    def _notify(self, job: Job) -> None:
        for cb in list(self.on_state):
            try:
                cb(job)
            except Exception:
                log.exception("state listener failed")
