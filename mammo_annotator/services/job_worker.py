"""The process that runs training jobs, so the GUI's interpreter never waits on the trainer.

In a thread, the trainer's Python steps (the optimiser loop, crops, pickling a model) share
the GUI's GIL. Here a job runs in a child interpreter (``python -m
mammo_annotator.services.job_worker``) that lives as long as its queue, so torch is imported
once, not per job. It runs at a lower CPU priority, on its own database connection. The two
talk over a private socket pair: jobs and Stop go one way, progress and the outcome the other.
A plain child process, not ``multiprocessing`` spawn, so the app's own ``__main__`` script is
never imported again in the child.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, NoReturn

from ..ml.allocator import keep_freed_memory
from .training import TrainingOutcome, TrainingRequest

log = logging.getLogger(__name__)

NICE = 5  # the job yields the CPU to the window when both want it
POLL_S = 0.1  # how often the waiting thread looks at the user's Stop
IDLE_GRACE_S = 0.5  # how long a process without a job may take to end when closed


class BusyElsewhere(Exception):
    """Another machine (or process) holds the project's retraining lease."""


class JobFailed(Exception):
    """The job raised in the worker process, or the process died; the log has the traceback."""


Progress = Callable[[str, int, int, str], None]


# the child ----------------------------------------------------------------------------------
def _run_one(target: str, holder: str, request: TrainingRequest, conn: Connection,
             cancel: threading.Event) -> TrainingOutcome:
    from . import team
    from .project import Project
    from .training import run_training

    project = Project(target)
    try:
        lease = team.JobLease(project, holder)
        if not lease.acquire():  # one retraining per project across all machines
            other = team.running_job(project)
            raise BusyElsewhere(other.describe() if other else "retraining runs on another machine")

        def progress(stage: str, done: int, total: int, message: str) -> None:
            if not lease.renew():
                log.error("training job lost the project's job lease; stopping it")
                cancel.set()
            conn.send(("progress", stage, done, total, message))

        try:
            return run_training(project, request, progress=progress, cancel=cancel)
        finally:
            lease.release()
    finally:
        project.close()


def _read_commands(conn: Connection, jobs: queue.Queue, cancel: threading.Event) -> None:
    """The child's reader: a job is queued (and the Stop flag cleared, in order), Stop sets it."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            msg = None
        if msg is None:  # the queue closed, or the app has gone: stop the job and end
            cancel.set()
            jobs.put(None)
            return
        if msg[0] == "run":
            cancel.clear()
            jobs.put(msg[1:])
        elif msg[0] == "cancel":
            cancel.set()


def serve(fd: int) -> None:
    """The child's main loop: one job at a time until the parent closes its end."""
    try:
        os.nice(NICE)
    except OSError:
        pass
    keep_freed_memory()  # the jobs' training steps reuse freed memory instead of faulting in new pages
    conn = Connection(fd)
    jobs: queue.Queue = queue.Queue()
    cancel = threading.Event()
    threading.Thread(target=_read_commands, args=(conn, jobs, cancel), name="commands", daemon=True).start()
    while (job := jobs.get()) is not None:
        target, holder, request = job
        try:
            reply = ("done", _run_one(target, holder, request, conn, cancel))
        except BusyElsewhere as exc:
            reply = ("busy", str(exc))
        except Exception as exc:
            reply = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(reply)
        except OSError:
            return


# the parent ---------------------------------------------------------------------------------
class JobWorker:
    """One worker process, started on first use and again after it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._busy = False  # a job was sent and its outcome has not come back

    def start(self) -> None:
        """Start the process now (its imports take seconds), so the first job does not wait for them."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            ours, theirs = socket.socketpair()
            env = dict(os.environ)
            package_root = str(Path(__file__).resolve().parents[2])  # runs from a checkout as from a wheel
            env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
            with theirs:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "mammo_annotator.services.job_worker", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
            self._conn = Connection(ours.detach())

    def run(self, target: str, holder: str, request: TrainingRequest, progress: Progress,
            cancel: threading.Event) -> TrainingOutcome:
        """Run one job in the worker and wait for it; raises BusyElsewhere or JobFailed."""
        self.start()
        proc, conn = self._proc, self._conn
        self._busy = True
        try:
            return self._wait_for(proc, conn, target, holder, request, progress, cancel)
        finally:
            self._busy = False

    def _wait_for(self, proc: subprocess.Popen, conn: Connection, target: str, holder: str,
                  request: TrainingRequest, progress: Progress, cancel: threading.Event) -> TrainingOutcome:
        if not self._send(conn, ("run", target, holder, request)):  # it died before the job reached it
            self._died(proc)
        stop_sent = False
        while True:
            if cancel.is_set() and not stop_sent:
                stop_sent = self._send(conn, ("cancel",))
            try:
                msg = conn.recv() if conn.poll(POLL_S) else None
            except (EOFError, OSError):
                msg = ("died",)
            if msg is None:
                if proc.poll() is None:
                    continue
                msg = ("died",)
            kind = msg[0]
            if kind == "progress":
                progress(*msg[1:])
            elif kind == "done":
                return msg[1]
            elif kind == "busy":
                raise BusyElsewhere(msg[1])
            elif kind == "error":
                log.error("training job failed in the worker process:\n%s", msg[2])
                raise JobFailed(msg[1])
            else:
                self._died(proc)

    def _died(self, proc: subprocess.Popen) -> NoReturn:
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:  # its pipe broke but it lives on: ended here
            code = None
        self._forget(proc)
        raise JobFailed(f"the training process ended unexpectedly (exit code {code}); "
                        "the previous model stays active, the next job starts a new process")

    @staticmethod
    def _send(conn: Connection, msg: tuple) -> bool:
        try:
            conn.send(msg)
            return True
        except OSError:
            return False

    def _forget(self, proc: subprocess.Popen) -> None:
        with self._lock:
            if self._proc is proc:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                if self._conn is not None:
                    self._conn.close()
                self._proc = self._conn = None

    def close(self, timeout: float = 10.0) -> None:
        """End the process (the caller stopped its job first); killed if it does not end in time.

        An idle process ends at once when asked; one still importing torch reads the request only
        when its imports are done, seconds later, and a window closed (or a project switched)
        soon after opening waited for them. It holds nothing then, so it is terminated after
        ``IDLE_GRACE_S``; a job still running gets ``timeout`` to stop at its next step."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
            busy = self._busy
        if proc is None:
            return
        self._send(conn, None)
        try:
            proc.wait(timeout if busy else IDLE_GRACE_S)
        except subprocess.TimeoutExpired:
            if busy:
                proc.kill()
            else:
                proc.terminate()
            proc.wait(10)
        conn.close()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="training process: %(levelname)s %(name)s: %(message)s")
    serve(int(sys.argv[1]))
