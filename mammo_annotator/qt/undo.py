"""Undoable edits. Every command calls the services, so each step (and each undo) is persisted.

The editor performs an edit first and pushes the command only when the database accepted it;
the command's first ``redo`` (which Qt calls on push) is then a no-op. Later undo/redo steps
call the services again with the revision last seen, so a concurrent change is refused
(``StaleImageError``) instead of silently overwritten.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from ..core.errors import MammoError
from ..core.types import LesionClass, Polygon
from ..services import annotations as ann_service
from ..services.annotations import EditResult
from ..services.project import Project
from ..store.images import StaleImageError


class AnnotationEditor(QObject):
    """Writes through ``services.annotations`` with the annotator's name and expected revision."""

    failed = Signal(str)  # a refused edit (bad contour, read-only database...): shown, nothing changed
    stale = Signal(int, str)  # image id, message: someone else changed the image; reload it
    repaired = Signal(str)  # what the service repaired in a contour (clipped, ...)

    def __init__(self, project: Project, annotator: str) -> None:
        super().__init__()
        self.project = project
        self.annotator = annotator
        self.revisions: dict[int, int] = {}

    def seen(self, image_id: int, revision: int) -> None:
        """The revision the user is looking at (set whenever an image is (re)loaded)."""
        self.revisions[image_id] = revision

    def _call(self, image_id: int, fn: Callable[..., EditResult], *args, **kwargs) -> EditResult | None:
        try:
            result = fn(self.project, *args, annotator=self.annotator,
                        expected_revision=self.revisions.get(image_id), **kwargs)
        except StaleImageError as exc:
            self.stale.emit(image_id, str(exc))
            return None
        except (MammoError, KeyError) as exc:
            self.failed.emit(str(exc).strip("'\""))
            return None
        self.revisions[image_id] = result.revision
        if result.repairs:
            self.repaired.emit("Contour stored with repairs: " + ", ".join(result.repairs))
        return result

    # the edits ------------------------------------------------------------------------
    def add(self, image_id: int, points: np.ndarray, cls: LesionClass) -> EditResult | None:
        return self._call(image_id, ann_service.save_contour, image_id, Polygon.from_array(points), cls=cls)

    def edit(self, image_id: int, annotation_id: int, points: Polygon | None = None, cls: LesionClass | None = None):
        return self._call(image_id, ann_service.edit_contour, annotation_id, points=points, cls=cls)

    def delete(self, image_id: int, annotation_id: int):
        return self._call(image_id, ann_service.delete_contour, annotation_id)

    def restore(self, image_id: int, annotation_id: int):
        return self._call(image_id, ann_service.restore_contour, annotation_id)

    def no_malignant(self, image_id: int, confirmed: bool):
        return self._call(image_id, ann_service.set_no_malignant, image_id, confirmed=confirmed)


class _EditCommand(QUndoCommand):
    """Skips the redo that QUndoStack.push performs: the edit already happened."""

    def __init__(self, editor: AnnotationEditor, image_id: int, text: str) -> None:
        super().__init__(text)
        self.editor = editor
        self.image_id = image_id
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        if self._redo() is None:
            self.setObsolete(True)

    def undo(self) -> None:
        if self._undo() is None:
            self.setObsolete(True)

    def _redo(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _undo(self):  # pragma: no cover - abstract
        raise NotImplementedError


class AddContourCommand(_EditCommand):
    def __init__(self, editor, image_id: int, annotation_id: int, cls: LesionClass) -> None:
        super().__init__(editor, image_id, f"draw {'malignant' if cls is LesionClass.MALIGNANT else 'benign'} contour")
        self.annotation_id = annotation_id

    def _undo(self):
        return self.editor.delete(self.image_id, self.annotation_id)

    def _redo(self):
        return self.editor.restore(self.image_id, self.annotation_id)


class EditContourCommand(_EditCommand):
    """Outline and/or class change; undo restores the previous outline and class."""

    def __init__(self, editor, image_id: int, annotation_id: int, old: tuple[Polygon, LesionClass],
                 new: tuple[Polygon | None, LesionClass | None], text: str = "edit contour") -> None:
        super().__init__(editor, image_id, text)
        self.annotation_id, self.old, self.new = annotation_id, old, new

    def _undo(self):
        return self.editor.edit(self.image_id, self.annotation_id, points=self.old[0], cls=self.old[1])

    def _redo(self):
        return self.editor.edit(self.image_id, self.annotation_id, points=self.new[0], cls=self.new[1])


class DeleteContourCommand(_EditCommand):
    def __init__(self, editor, image_id: int, annotation_id: int, text: str = "delete contour") -> None:
        super().__init__(editor, image_id, text)
        self.annotation_id = annotation_id

    def _undo(self):
        return self.editor.restore(self.image_id, self.annotation_id)

    def _redo(self):
        return self.editor.delete(self.image_id, self.annotation_id)


class NoMalignantCommand(_EditCommand):
    def __init__(self, editor, image_id: int, confirmed: bool) -> None:
        super().__init__(editor, image_id, "confirm no malignant finding" if confirmed else "withdraw 'no malignant finding'")
        self.confirmed = confirmed

    def _undo(self):
        return self.editor.no_malignant(self.image_id, not self.confirmed)

    def _redo(self):
        return self.editor.no_malignant(self.image_id, self.confirmed)
