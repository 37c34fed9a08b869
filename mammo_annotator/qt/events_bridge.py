"""Marshal ``project.events`` (emitted in any thread) to a Qt signal in the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..services.project import Project

NAMES = ("annotations_changed", "image_changed", "images_imported", "model_activated", "model_added")


class EventBridge(QObject):
    """Subscribes to a project's events; ``event`` is delivered queued when emitted off-thread."""

    event = Signal(str, dict)

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self._callbacks = {name: (lambda _n=name, **kw: self.event.emit(_n, kw)) for name in NAMES}
        for name, cb in self._callbacks.items():
            project.events.connect(name, cb)

    def detach(self) -> None:
        for name, cb in self._callbacks.items():
            self.project.events.disconnect(name, cb)
