"""What other machines changed in a shared project, turned into the same events local edits send.

The GUI polls (a timer, a few seconds) so a model version activated on one machine reaches the
proposals of all the others without a restart, and contours saved elsewhere reload on screen.
Local edits are already announced by the services; the watcher only reports the rest.
"""

from __future__ import annotations

from sqlalchemy import select

from ..store import models as model_store
from ..store.schema import ImageRow
from .project import Project


class RemoteChanges:
    """Compare the project's active model and image revisions with what this process last saw."""

    def __init__(self, project: Project):
        self.project = project
        self._active, self._revisions = self._read()
        self._local: set[int] = set()
        project.events.connect("annotations_changed", self._local_edit)
        project.events.connect("model_activated", self._local_activation)

    def _read(self) -> tuple[int | None, dict[int, int]]:
        with self.project.session() as s:
            active = model_store.active_model_id(s)
            revisions = dict(s.execute(select(ImageRow.id, ImageRow.revision)).all())
        return active, revisions

    def _local_edit(self, image_id: int, **kw: object) -> None:
        if not kw.get("remote"):
            self._local.add(image_id)

    def _local_activation(self, version_id: int | None = None, **kw: object) -> None:
        if not kw.get("remote"):
            self._active = version_id

    def poll(self) -> dict[str, object]:
        """Read once; emit ``model_activated`` / ``annotations_changed`` / ``images_imported``
        (with ``remote=True``) for what changed elsewhere, and return it."""
        active, revisions = self._read()
        local, self._local = self._local, set()
        edited = sorted(i for i, r in revisions.items() if i in self._revisions and self._revisions[i] != r and i not in local)
        added = sorted(i for i in revisions if i not in self._revisions)
        model_changed = active != self._active
        self._active, self._revisions = active, revisions
        if model_changed:
            self.project.events.emit("model_activated", version_id=active, remote=True)
        for image_id in edited:
            self.project.events.emit("annotations_changed", image_id=image_id, remote=True)
        if added:
            self.project.events.emit("images_imported", image_ids=added, remote=True)
        return {"active_model": active if model_changed else None, "edited": edited, "added": added}

    def close(self) -> None:
        self.project.events.disconnect("annotations_changed", self._local_edit)
        self.project.events.disconnect("model_activated", self._local_activation)
