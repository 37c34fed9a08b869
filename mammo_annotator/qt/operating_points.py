"""The CAD marks' operating thresholds per model version, read once and ahead of need.

A threshold comes from the version's scores on the validation patients (``services.cad``).
Reading them when a retrain's new model was shown took 60 ms of the GUI thread; the window
now asks for them as soon as the version is announced, and a background thread reads them.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..core.errors import MammoError
from ..services import cad
from ..services.project import Project

CLASSES = ("M", "B")


class OperatingPoints:
    """model version -> {class: OperatingPoint}; ``get`` in the GUI thread, ``prefetch`` from anywhere."""

    def __init__(self, project: Project, warn: Callable[[str], None]) -> None:
        self.project = project
        self.warn = warn  # the status bar, for a version whose thresholds cannot be read
        self._points: dict[int, dict[str, cad.OperatingPoint]] = {}
        self._reading: dict[int, threading.Thread] = {}

    def prefetch(self, version_id: int | None) -> None:
        """Read the version's thresholds in a thread (a failure is left to ``get``, which says it)."""
        if version_id is None or version_id in self._points or version_id in self._reading:
            return
        project = self.project

        def read() -> None:
            try:
                points = {c: cad.operating_point(project, version_id, c) for c in CLASSES}
            except MammoError:
                return
            self._points.setdefault(version_id, points)

        thread = threading.Thread(target=read, name=f"thresholds-v{version_id}", daemon=True)
        self._reading[version_id] = thread
        thread.start()

    def reading(self, version_id: int | None) -> bool:
        thread = self._reading.get(version_id) if version_id is not None else None
        return thread is not None and thread.is_alive()

    def get(self, version_id: int) -> dict[str, cad.OperatingPoint]:
        if version_id not in self._points:
            thread = self._reading.get(version_id)
            if thread is not None:
                thread.join()  # started already: its result, not a second read
        if version_id not in self._points:
            try:
                self._points[version_id] = {c: cad.operating_point(self.project, version_id, c) for c in CLASSES}
            except MammoError as exc:
                self.warn(f"Validation thresholds unavailable ({exc}); using the default")
                self._points[version_id] = {c: cad.OperatingPoint(c, cad.DEFAULT_THRESHOLD, "default") for c in CLASSES}
        return self._points[version_id]

    def wait(self, timeout: float = 10.0) -> None:
        """Let running reads end (before the project closes)."""
        for thread in list(self._reading.values()):
            thread.join(timeout)
