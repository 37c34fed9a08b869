"""What other machines changed in a shared project, turned into the same events local edits send.

The GUI polls (a timer, a few seconds) so a model version activated on one machine reaches the
proposals of all the others without a restart, and contours saved elsewhere reload on screen.
Local edits are already announced by the services; the watcher only reports the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..store import models as model_store
from ..store.schema import ImageRow
from .project import Project


@dataclass(frozen=True)
class Snapshot:
    """What the database held at one read, and the local-edit counter when the read began."""

    active: int | None
    revisions: dict[int, int]
    local_seq: int


class RemoteChanges:
    """Compare the project's active model and image revisions with what this process last saw.

    ``read`` may run in any thread (the GUI's poll reads in one, so a slow or unreachable server
    never freezes the window); ``apply`` runs where the events' listeners live."""

    def __init__(self, project: Project):
        self.project = project
        self._seq = 0
        first = self.read()
        self._active, self._revisions = first.active, first.revisions
        self._local: dict[int, int] = {}  # image edited here -> the local-edit counter at that edit
        self._activated_at = 0  # the counter at this process's last activation
        project.events.connect("annotations_changed", self._local_edit)
        project.events.connect("model_activated", self._local_activation)

    def read(self) -> Snapshot:
        seq = self._seq
        with self.project.session() as s:
            active = model_store.active_model_id(s)
            revisions = dict(s.execute(select(ImageRow.id, ImageRow.revision)).all())
        return Snapshot(active, revisions, seq)

    def _local_edit(self, image_id: int, **kw: object) -> None:
        if not kw.get("remote"):
            self._seq += 1
            self._local[image_id] = self._seq

    def _local_activation(self, version_id: int | None = None, **kw: object) -> None:
        if not kw.get("remote"):
            self._seq += 1
            self._active, self._activated_at = version_id, self._seq

    def poll(self) -> dict[str, object]:
        """Read and apply at once (the command line, tests)."""
        return self.apply(self.read())

    def apply(self, snap: Snapshot) -> dict[str, object]:
        """Emit ``model_activated`` / ``annotations_changed`` / ``images_imported`` (with
        ``remote=True``) for what changed elsewhere, and return it. A local edit made while the
        read ran stays marked as local for the next one, which may be the first to see it."""
        local = set(self._local)
        self._local = {i: q for i, q in self._local.items() if q > snap.local_seq}
        revisions = snap.revisions
        edited = sorted(i for i, r in revisions.items() if i in self._revisions and self._revisions[i] != r and i not in local)
        added = sorted(i for i in revisions if i not in self._revisions)
        # a read begun before this process's own activation must not switch the model back
        model_changed = snap.active != self._active and self._activated_at <= snap.local_seq
        if model_changed:
            self._active = snap.active
        self._revisions = revisions
        if model_changed:
            self.project.events.emit("model_activated", version_id=snap.active, remote=True)
        for image_id in edited:
            self.project.events.emit("annotations_changed", image_id=image_id, remote=True)
        if added:
            self.project.events.emit("images_imported", image_ids=added, remote=True)
        return {"active_model": snap.active if model_changed else None, "edited": edited, "added": added}

    def close(self) -> None:
        self.project.events.disconnect("annotations_changed", self._local_edit)
        self.project.events.disconnect("model_activated", self._local_activation)
