"""The edits of the image on the canvas (part of ``ImagePage``): each goes through the
``AnnotationEditor`` and, once the database has it, lands on the image's own undo stack.

On a server project an edit the server does not answer within ``SERVER_WAIT_S`` is finished
when the answer comes (see ``AnnotationEditor``): meanwhile a new outline stays drawn dashed and
a moved one stays where it was moved, the status bar says whom the page waits for, and further
edits of that image are refused with a message. A file project's edits finish in place, as always.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from ..core.contours import outer_outline
from ..core.types import LesionClass, Polygon
from ..services.annotations import EditResult
from .contour_tool import KeptOutline
from .theme import CONTOUR_COLOURS
from .undo import (AddContourCommand, DeleteContourCommand, EditContourCommand, Failure, NoMalignantCommand, push,
                   repairs_note)

KEPT_HINT = "press Enter to save it again or Esc to discard it"
WAITING_REPEAT_MS = 3500  # the waiting note is said again before the status bar's 4 s run out


class ImageEdits:
    """Mixin of ``ImagePage``: uses its view, layers, editor, stacks, signals and ``image_id``."""

    def _init_edits(self) -> None:
        self.saving = KeptOutline(self.view)  # a new outline whose save waits for the database server
        self._held: dict[int, tuple[np.ndarray, LesionClass]] = {}  # image id -> that outline
        self._waiting_note = QTimer(self)
        self._waiting_note.setInterval(WAITING_REPEAT_MS)
        self._waiting_note.timeout.connect(self._say_waiting)
        self.editor.waiting.connect(lambda _image_id, text: (self.message.emit(text), self._waiting_note.start()))
        self.editor.busy.connect(lambda _image_id, text: self.message.emit(text))
        self.editor.answered.connect(self._on_answered)

    def _say_waiting(self) -> None:
        here = self.image_id if self.editor.saving(self.image_id) else next(iter(self.editor.pending), None)
        if here is None:
            self._waiting_note.stop()
        else:
            self.message.emit(self.editor.waiting_text(here))

    def _on_answered(self, image_id: int) -> None:
        self.message.emit("")  # the waiting note goes; what the answer brought is said next
        if not self.editor.pending:
            self._waiting_note.stop()

    def _refused_while_saving(self) -> bool:
        """An edit of an image whose last edit waits for the server is refused (said why)."""
        if not self.editor.saving(self.image_id):
            return False
        self.message.emit(f"Not done: the last edit of image {self.image_id} is still waiting for the database server "
                          f"({self.project.location}); try again once it has answered")
        return True

    def _show_held(self) -> None:
        """The dashed outline of the shown image's save in flight (none on another image)."""
        held = self._held.get(self.image_id)
        self.saving.take()
        if held is not None:
            self.saving.keep(held[0], CONTOUR_COLOURS[held[1].value])

    def _push(self, command) -> None:
        push(self._stack(command.image_id), command)

    def _on_edit_failed(self, text: str) -> None:
        self.message.emit("")  # an earlier "contour saved" must not stand beside the error
        self.error.emit("Edit not saved", text)

    # a new outline ---------------------------------------------------------------------------
    def _on_outline(self, points: np.ndarray) -> None:
        """Save a finished outline; the tool's outline is cleared only once the database has it."""
        if self.image_id is None:
            return
        if self._refused_while_saving():
            if self._handler is None or not self._handler.drawing:
                self.kept.keep(points, CONTOUR_COLOURS[self.cls.value])  # a tool that let go of it: kept here
            return
        self.kept.take()  # a new outline replaces one whose save had failed
        outline, crossed = outer_outline(points)  # a stroke that crosses itself: the area it surrounds
        image_id, cls = self.image_id, self.cls
        result = self.editor.add(image_id, outline, cls,
                                 then=lambda r: self._outline_answered(image_id, points, cls, crossed, r))
        if self.editor.last_failure is Failure.PENDING:
            self._held[image_id] = (np.asarray(points, dtype=float), cls)
            if self._handler is not None and self._handler.drawing:
                self._handler.cancel()  # the outline is drawn dashed until saved; the tool is free meanwhile
            self._show_held()
            return
        if result is None and self.editor.last_failure is Failure.PASSING:
            self._keep_outline(points, cls)  # locked, read-only...: the same outline may save later
            return
        if self._handler is not None and self._handler.drawing:
            self._handler.cancel()  # saved, or refused for good (no area...): the tool starts afresh
        if result is not None:
            self._outline_saved(image_id, cls, crossed, result)

    def _outline_answered(self, image_id: int, points: np.ndarray, cls: LesionClass, crossed: bool,
                          result: EditResult | None) -> None:
        """The server's late answer to a new outline: saved, kept for another try, or dropped."""
        self._held.pop(image_id, None)
        self._show_held()
        if result is not None:
            self._outline_saved(image_id, cls, crossed, result)
        elif self.editor.last_failure is Failure.PASSING:
            if image_id == self.image_id:
                self._keep_outline(points, cls)
            else:
                self.message.emit(f"The contour drawn on image {image_id} was not saved; draw it again there")

    def _outline_saved(self, image_id: int, cls: LesionClass, crossed: bool, result: EditResult) -> None:
        self._push(AddContourCommand(self.editor, image_id, result.annotation_id, cls))
        what = "Malignant" if cls is LesionClass.MALIGNANT else "Benign"
        notes = ["it crossed itself: stored as its outer outline"] if crossed else []
        notes += list(result.repairs)
        where = "" if image_id == self.image_id else f" on image {image_id}"
        self.message.emit(f"{what} contour saved{where}" + (f" ({'; '.join(notes)})" if notes else ""))
        if cls is LesionClass.MALIGNANT and image_id == self.image_id:
            self.annotated.emit("contour")  # not when the reader has moved on: it would move them again

    def _keep_outline(self, points: np.ndarray, cls: LesionClass) -> None:
        """A failed save: the outline stays drawn (in the tool, or here for a tool that let go of it)."""
        if self._handler is None or not self._handler.drawing:
            self.kept.keep(points, CONTOUR_COLOURS[cls.value])
        self.message.emit(f"Contour not saved; it is still drawn: {KEPT_HINT}")

    def finish_drawing(self) -> bool:
        """Enter: close the outline being drawn, or save again one whose save failed."""
        if self.kept.points is not None or self.contours.unsaved:
            if self._refused_while_saving():
                return True  # the outline stays as it is, for Enter once the server has answered
        kept = self.kept.take()
        if kept is not None:
            self._on_outline(kept)
            return True
        if self.contours.unsaved:
            for annotation_id, points in list(self.contours.unsaved.items()):
                self._edit_outline(annotation_id, points)
            return True
        return bool(self._handler is not None and self._handler.finish())

    # changes of a stored contour -------------------------------------------------------------
    def _on_contour_edited(self, annotation_id: int, points: np.ndarray) -> None:
        # deferred: the ROI that emitted this is rebuilt by the reload the edit triggers
        QTimer.singleShot(0, lambda: self._edit_outline(annotation_id, points))

    def _edit_outline(self, annotation_id: int, points: np.ndarray) -> None:
        rec = self._record(annotation_id)
        if rec is None or self.image_id is None:
            return
        if self._refused_while_saving():
            self.contours.keep_unsaved(annotation_id, points)  # shown where it was moved, for Enter later
            return
        new = Polygon.from_array(points)
        self.contours.forget_unsaved(annotation_id)
        if np.allclose(new.as_array(), rec.polygon.as_array()) if len(new.points) == len(rec.polygon.points) else False:
            return
        image_id = self.image_id
        result = self.editor.edit(image_id, annotation_id, points=new,
                                  then=lambda r: self._outline_edited(image_id, rec, new, points, r))
        if self.editor.last_failure is Failure.PENDING:
            self.contours.keep_unsaved(annotation_id, points)  # stays where it was moved while the server answers
            return
        self._outline_edited(image_id, rec, new, points, result)

    def _outline_edited(self, image_id: int, rec, new: Polygon, points: np.ndarray, result: EditResult | None) -> None:
        if result is not None:
            if self.contours.unsaved.pop(rec.id, None) is not None:  # a late answer: as stored (repairs)
                self.contours.set_contours(self.contours.records)
            self._push(EditContourCommand(self.editor, image_id, rec.id, (rec.polygon, rec.cls), (new, None),
                                          text=f"edit the outline of a {'malignant' if rec.cls is LesionClass.MALIGNANT else 'benign'} contour"))
            self.message.emit("Contour updated" + repairs_note(result))
        elif self.editor.last_failure is Failure.PASSING:
            self.contours.keep_unsaved(rec.id, points)  # the edit stays on screen for another try
            self.message.emit(f"Outline edit not saved; it is still shown: {KEPT_HINT}")
        else:
            self.contours.forget_unsaved(rec.id)
            if image_id == self.image_id:
                self.reload()  # refused or stale: put the outline back where the database has it

    def delete_selected(self) -> None:
        aid = self.contours.selected
        if aid is None or self.image_id is None:
            self.message.emit("Select a contour first (Edit tool or the Contours list)")
            return
        if self._refused_while_saving():
            return
        rec = self._record(aid)
        what = f"delete {'malignant' if rec is not None and rec.cls is LesionClass.MALIGNANT else 'benign'} contour"
        image_id = self.image_id

        def done(result: EditResult | None) -> None:
            if result is not None:
                self._push(DeleteContourCommand(self.editor, image_id, aid, text=what))

        done(self.editor.delete(image_id, aid, then=done))

    def toggle_selected_class(self) -> None:
        rec = self._record(self.contours.selected) if self.contours.selected else None
        if rec is None or self.image_id is None:
            self.message.emit("Select a contour first (Edit tool or the Contours list)")
            return
        if self._refused_while_saving():
            return
        new = LesionClass.BENIGN if rec.cls is LesionClass.MALIGNANT else LesionClass.MALIGNANT
        image_id = self.image_id

        def done(result: EditResult | None) -> None:
            if result is not None:
                self._push(EditContourCommand(self.editor, image_id, rec.id, (rec.polygon, rec.cls), (None, new),
                                              text=f"change a contour to {'benign' if new is LesionClass.BENIGN else 'malignant'}"))

        done(self.editor.edit(image_id, rec.id, cls=new, then=done))

    def set_no_malignant(self, confirmed: bool) -> None:
        if self.image_id is None or self._refused_while_saving():
            return
        image_id = self.image_id

        def done(result: EditResult | None) -> None:
            if result is not None:
                self._push(NoMalignantCommand(self.editor, image_id, confirmed))
                if confirmed and image_id == self.image_id:
                    self.annotated.emit("no_malignant")
            elif self.editor.last_failure is not Failure.PENDING and image_id == self.image_id:
                self.reload()

        done(self.editor.no_malignant(image_id, confirmed, then=done))

    def _on_stale(self, image_id: int, text: str) -> None:
        self.message.emit("")
        self.error.emit("Image changed elsewhere",
                        f"{text}\n\nYour last edit was not saved. The image has been reloaded with the current "
                        "contours; its undo history is cleared.")
        stack = self.stacks.pop(image_id, None)
        if stack is not None:
            QTimer.singleShot(0, lambda: (self.undo_group.removeStack(stack), stack.deleteLater()))
        if image_id == self.image_id:
            QTimer.singleShot(0, self.reload)
            QTimer.singleShot(0, lambda: self.undo_group.setActiveStack(self._stack(image_id)))
