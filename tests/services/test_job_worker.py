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
