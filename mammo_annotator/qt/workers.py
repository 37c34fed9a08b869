"""Long work off the GUI thread: a service call adapted to Qt signals, stopped by a token.

A task is any callable ``fn(progress, cancel) -> result`` that reports through a
``core.progress.ProgressFn`` and checks a cancel token (a ``threading.Event``): importing now,
training and scoring later (issue 5) use the same plumbing. States follow the MONAI Label
convention: RUNNING -> DONE / ERROR / STOPPED.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from ..core.errors import MammoError
from ..core.progress import Cancelled, ProgressFn

Task = Callable[[ProgressFn, threading.Event], Any]


class TaskWorker(QObject):
    """Runs one task in its own QThread.

    Connect its signals to slots of QObjects that live in the GUI thread (they then arrive
    queued there); a lambda or a plain function would run in the worker's thread.
    """

    progress = Signal(int, int, str)  # done, total, message
    succeeded = Signal(object)  # the task's result
    failed = Signal(str)  # a readable reason (MammoError text, or the traceback's last line)
    stopped = Signal()
    finished = Signal(str)  # "DONE" / "ERROR" / "STOPPED", after one of the three above

    def __init__(self, task: Task, name: str = "task") -> None:
        super().__init__()
        self.task = task
        self.name = name
        self.cancel_token = threading.Event()
        self.state = "SUBMITTED"
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self._thread.started.connect(self._run)

    def start(self) -> None:
        self.state = "RUNNING"
        self._thread.start()

    def stop(self) -> None:
        """Ask the task to stop at its next check; it keeps what it finished.

        Thread-safe; call it directly from the GUI thread (not through a queued connection
        to this object, whose thread is busy running the task).
        """
        self.cancel_token.set()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread has ended (tests and shutdown); True when it did."""
        return self._thread.wait(ms)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _run(self) -> None:
        try:
            result = self.task(self._report, self.cancel_token)
        except Cancelled:
            self.state = "STOPPED"
            self.stopped.emit()
        except MammoError as exc:
            self.state = "ERROR"
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must surface as a message, not kill the app
            self.state = "ERROR"
            self.failed.emit(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}")
        else:
            self.state = "STOPPED" if self.cancel_token.is_set() else "DONE"
            self.succeeded.emit(result)
        # back to the GUI thread before this one ends: an object left in a finished thread
        # cannot be cleaned up properly (Qt warns about timers stopped from the wrong thread)
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())
        self.finished.emit(self.state)
        self._thread.quit()

    def _report(self, done: int, total: int, message: str) -> None:
        self.progress.emit(int(done), int(total), str(message))
