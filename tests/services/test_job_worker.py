"""The training process dying at any moment, even before the job reaches it, reads the same."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from mammo_annotator.services.job_worker import JobFailed, JobWorker
from mammo_annotator.services.training import TrainingRequest


class _KilledOnStart(JobWorker):
    """A real worker process, killed (as by the out-of-memory killer) right after it starts."""

    def start(self) -> None:
        super().start()
        proc = self._proc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_a_process_dead_before_the_job_is_sent_ends_unexpectedly(tmp_path):
    worker = _KilledOnStart()
    try:
        with pytest.raises(JobFailed, match="ended unexpectedly") as err:
            worker.run(str(tmp_path / "p.sqlite"), "test", TrainingRequest(epochs=1), lambda *a: None,
                       threading.Event())
        assert f"exit code {-signal.SIGKILL}" in str(err.value)
        assert worker.pid is None  # forgotten: the next job starts a new process
    finally:
        worker.close()


class _NeverReads(JobWorker):
    """A process that holds its end of the socket and reads nothing, as the real one does while it
    imports torch (seconds) before its command loop starts."""

    def start(self) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        with theirs:
            self._proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                          pass_fds=(theirs.fileno(),))
        self._conn = Connection(ours.detach())


def test_closing_a_process_without_a_job_does_not_wait_for_its_imports():
    worker = _NeverReads()
    worker.start()
    proc = worker._proc
    worker.close()  # before: waited 10 s for an answer, then killed it
    assert proc.returncode == -signal.SIGTERM  # terminated after the short grace, not killed after the long wait
    assert worker.pid is None


def test_closing_while_a_job_runs_gives_it_the_whole_timeout_then_kills_it():
    worker = _NeverReads()
    worker.start()
    proc = worker._proc
    worker._busy = True  # as between sending a job and its outcome
    worker.close(timeout=1.0)
    assert proc.returncode == -signal.SIGKILL  # a job is never cut by the idle grace
