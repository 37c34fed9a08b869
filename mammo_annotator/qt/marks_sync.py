"""What the Marks tab and the CAD marks need from the model that made them: its operating points
(read ahead in a thread, a threshold belongs to its model) and how many images were annotated
since it was trained (read once per model, forgotten on every edit).

The window calls ``attach`` per project, ``on_event`` per project event and ``show_bundle`` per
image; this object keeps that per-model state out of the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ..core.errors import MammoError
from ..services import cad
from ..services.project import Project
from .operating_points import OperatingPoints

if TYPE_CHECKING:
    from .main_window import MainWindow


class MarksSync(QObject):
    """A child of the window: the Marks tab's Reset reaches it only while the window lives."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._operating: OperatingPoints | None = None  # model version -> thresholds, read ahead
        self._since: dict[int, int] = {}  # model version -> images annotated since (cleared on edits)
        self._activated: int | None = None  # the version the last activation named
        self._marks_model: int | None = None  # the version whose thresholds the Marks tab shows

    def attach(self, project: Project) -> None:
        """A new project: the old one's reads finish first, nothing cached carries over."""
        if self._operating is not None:
            self._operating.wait()
        self._operating = OperatingPoints(project, lambda text: self.window.statusBar().showMessage(text, 6000))
        self._since, self._marks_model = {}, None

    def on_event(self, name: str, payload: dict) -> None:
        """Before the views refresh: an edit changes every count; a new model's thresholds are read ahead."""
        if name in ("annotations_changed", "image_changed"):
            self._since.clear()
        elif name in ("model_activated", "model_added"):
            self._since.clear()
            self._operating.prefetch(payload.get("version_id"))  # read in a thread while the list refreshes
            if name == "model_activated":
                self._activated = payload.get("version_id")

    def thresholds_ready(self) -> bool:
        """The image's marks wait for the activated model's thresholds, which are read in a thread."""
        return not self._operating.reading(self._activated)

    def show_bundle(self, bundle) -> None:
        """The image's marks with its model's thresholds and the count since that model."""
        w = self.window
        model = bundle.model if bundle is not None else None
        if model is not None and model.id != self._marks_model:
            self._marks_model = model.id
            w.cad.set_operating_points(self._thresholds(model.id))  # a threshold belongs to its model
        since = self._annotated_since(model.id) if model is not None else None
        w.page.proposals.configure(since=since)
        w.cad.show_bundle(bundle, since)

    def reset_thresholds(self) -> None:
        """The Marks tab's Reset: the model's own operating points again."""
        if self._marks_model is not None:
            self.window.cad.set_operating_points(self._thresholds(self._marks_model))

    def wait(self) -> None:
        """The window closes: a read in flight finishes before the database closes."""
        self._operating.wait()

    def _thresholds(self, version_id: int) -> dict[str, cad.OperatingPoint]:
        return self._operating.get(version_id)

    def _annotated_since(self, version_id: int) -> int | None:
        if version_id not in self._since:
            try:
                self._since[version_id] = cad.annotated_since(self.window.project, version_id)
            except MammoError:
                return None
        return self._since[version_id]
