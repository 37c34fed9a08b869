"""One refresh step per event-loop turn.

A job's end announces a model twice (added, then activated), and each view that shows model
output would redraw at once: together a stall of about 100 ms. The views queue their refresh
here instead; the queue runs one per turn, so input and paint get in between.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QTimer

RETRY_MS = 10  # a step that is not ready yet is tried again this much later


class StepQueue(QObject):
    """Named refresh steps, each queued at most once and run in the order first asked for.

    ``ready``: a step whose data is still being read elsewhere (a thread) waits, without
    blocking the steps behind it from being queued. ``on_error(key, exc)`` shows a failure;
    the queue goes on with the next step.
    """

    def __init__(self, parent: QObject | None = None,
                 on_error: Callable[[str, Exception], None] | None = None) -> None:
        super().__init__(parent)
        self._steps: list[tuple[str, Callable[[], None], Callable[[], bool] | None]] = []
        self._on_error = on_error

    def pending(self) -> list[str]:
        return [key for key, _, _ in self._steps]

    def add(self, key: str, run: Callable[[], None], ready: Callable[[], bool] | None = None) -> None:
        if key in self.pending():
            return
        self._steps.append((key, run, ready))
        if len(self._steps) == 1:
            QTimer.singleShot(0, self._run_next)

    def _run_next(self) -> None:
        if not self._steps:
            return
        key, run, ready = self._steps[0]
        if ready is not None and not ready():
            QTimer.singleShot(RETRY_MS, self._run_next)
            return
        self._steps.pop(0)
        try:
            run()
        except Exception as exc:  # shown by the owner, never lost in the event loop
            logging.getLogger(__name__).exception("refresh step %s failed", key)
            if self._on_error is not None:
                self._on_error(key, exc)
        if self._steps:
            QTimer.singleShot(0, self._run_next)
