"""Undoable edits. Every command calls the services, so each step (and each undo) is persisted.

The editor performs an edit first and pushes the command only when the database accepted it;
the command's first ``redo`` (which Qt calls on push) is then a no-op. Later undo/redo steps
call the services again with the revision last seen, so a concurrent change is refused
(``StaleImageError``) instead of silently overwritten.

A step whose undo or redo fails for a passing reason (the database locked by another program,
read-only, an I/O error) keeps its place in the history, so the same Ctrl+Z works once the cause
is gone; only a refusal that makes the step meaningless (the image changed elsewhere, the
contour gone) drops it.
"""

from __future__ import annotations

import enum
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..core.errors import MammoError
from ..core.types import LesionClass, Polygon
from ..services import annotations as ann_service
from ..services.annotations import EditResult
from ..services.project import Project
from ..store.engine import DatabaseError
from ..store.images import StaleImageError
from .server_calls import Relay, ServerCall

Then = Callable[[EditResult | None], None]  # an edit's outcome, when the database server answers late


class Failure(enum.Enum):
    """Why the last edit failed: the caller keeps or drops what the user did accordingly."""

    PASSING = "passing"  # locked, read-only, I/O error, damaged file: the same edit may work later
    REFUSED = "refused"  # the edit itself is refused (bad contour, contour gone...): retrying won't help
    STALE = "stale"  # someone else changed the image: the user's view of it is out of date
    PENDING = "pending"  # the database server has not answered yet: ``then`` gets the outcome
    BUSY = "busy"  # another edit of the image waits for the server: the same edit may work once it is answered


def repairs_note(result: EditResult) -> str:
    """' (clipped to the image border)' or '': appended to the message that says the edit was saved."""
    return f" ({', '.join(result.repairs)})" if result.repairs else ""


class AnnotationEditor(QObject):
    """Writes through ``services.annotations`` with the annotator's name and expected revision.

    On a server project the write runs in a thread (``server_calls``), waited for ``SERVER_WAIT_S``:
    answered in time, the edit returns as if made in place. Otherwise it returns None with
    ``last_failure`` PENDING and ``waiting`` emitted; the caller's ``then`` gets the result (or
    None, ``last_failure`` set) when the server answers. Until then further edits of that image
    are refused (BUSY, ``busy`` emitted): two writes in flight could land in either order.
    """

    failed = Signal(str)  # a refused edit (bad contour, read-only database...): shown, nothing changed
    stale = Signal(int, str)  # image id, message: someone else changed the image; reload it
    repaired = Signal(str)  # what the service repaired in a contour during an undo / redo (clipped, ...)
    waiting = Signal(int, str)  # image id, message: an edit the database server has not answered yet
    busy = Signal(int, str)  # image id, message: an edit refused while another of the image is waiting
    answered = Signal(int)  # image id: an edit waited for has been answered (saved or failed)

    def __init__(self, project: Project, annotator: str) -> None:
        super().__init__()
        self.project = project
        self.annotator = annotator
        self.revisions: dict[int, int] = {}
        self.last_failure: Failure | None = None  # why the last call returned None
        self.pending: dict[int, ServerCall] = {}  # image id -> its edit the server has not answered yet
        self._relay = Relay()  # no Qt parent: the save threads keep it alive until they have reported
        self._relay.ended.connect(self._on_answer, Qt.QueuedConnection)

    def seen(self, image_id: int, revision: int) -> None:
        """The revision the user is looking at (set whenever an image is (re)loaded)."""
        self.revisions[image_id] = revision

    def saving(self, image_id: int | None) -> bool:
        """An edit of the image waits for the database server."""
        return image_id in self.pending

    def forget_pending(self) -> None:
        """Another project: the answers of the old one's server are no longer listened to."""
        self.pending = {}

    def _call(self, image_id: int, fn: Callable[..., EditResult], *args, then: Then | None = None,
              **kwargs) -> EditResult | None:
        """The edit's result, or None with ``last_failure`` set and the reason signalled.
        Repairs are left to the caller, to say in the same message as the saved edit."""
        self.last_failure = None
        if image_id in self.pending:
            self.last_failure = Failure.BUSY
            self.busy.emit(image_id, f"Not done: an edit of image {image_id} is still waiting for the database server "
                                     f"({self.project.location}); try again once it has answered")
            return None
        project, annotator, expected = self.project, self.annotator, self.revisions.get(image_id)
        if not project.is_server:
            try:
                result = fn(project, *args, annotator=annotator, expected_revision=expected, **kwargs)
            except (MammoError, KeyError) as exc:
                return self._fail(image_id, exc)
            return self._done(image_id, result)
        call = ServerCall(self._relay, f"edit-image-{image_id}", lambda: fn(
            project, *args, annotator=annotator, expected_revision=expected, announce=False, **kwargs), (image_id, then))
        if call.answered():
            return self._take(image_id, call)
        self.pending[image_id] = call
        self.last_failure = Failure.PENDING
        self.waiting.emit(image_id, self.waiting_text(image_id))
        return None

    def waiting_text(self, image_id: int) -> str:
        return (f"Saving the edit of image {image_id}: waiting for the database server ({self.project.location}); "
                "its outline stays drawn meanwhile")

    def _take(self, image_id: int, call: ServerCall) -> EditResult | None:
        """A server's answer, taken up on the GUI thread: announced here, as an edit made in place is."""
        if call.error is not None:
            exc = call.error
            if not isinstance(exc, (MammoError, KeyError)):  # a driver or pool error: its reason shown, not lost
                exc = DatabaseError(self.project.location, f"{type(exc).__name__}: {exc}")
            return self._fail(image_id, exc)
        return self._done(image_id, ann_service.announced(self.project, call.result))

    def _on_answer(self, call: ServerCall) -> None:
        image_id, then = call.tag
        if self.pending.get(image_id) is not call:
            return  # answered in time (already taken up), or an edit of the previous project
        del self.pending[image_id]
        self.last_failure = None  # stays None when the answer is a saved edit
        result = self._take(image_id, call)
        failure = self.last_failure
        self.answered.emit(image_id)
        if then is not None:
            self.last_failure = failure
            then(result)

    def _fail(self, image_id: int, exc: Exception) -> None:
        if isinstance(exc, StaleImageError):
            self.last_failure = Failure.STALE
            self.stale.emit(image_id, str(exc))
            return None
        self.last_failure = Failure.PASSING if isinstance(exc, DatabaseError) else Failure.REFUSED
        self.failed.emit(str(exc).strip("'\""))
        return None

    def _done(self, image_id: int, result: EditResult) -> EditResult:
        self.revisions[image_id] = result.revision
        return result

    # the edits (``then``: see the class) ------------------------------------------------
    def add(self, image_id: int, points: np.ndarray, cls: LesionClass, then: Then | None = None) -> EditResult | None:
        return self._call(image_id, ann_service.save_contour, image_id, Polygon.from_array(points), cls=cls, then=then)

    def edit(self, image_id: int, annotation_id: int, points: Polygon | None = None, cls: LesionClass | None = None,
             then: Then | None = None):
        return self._call(image_id, ann_service.edit_contour, annotation_id, points=points, cls=cls, then=then)

    def delete(self, image_id: int, annotation_id: int, then: Then | None = None):
        return self._call(image_id, ann_service.delete_contour, annotation_id, then=then)

    def restore(self, image_id: int, annotation_id: int, then: Then | None = None):
        return self._call(image_id, ann_service.restore_contour, annotation_id, then=then)

    def no_malignant(self, image_id: int, confirmed: bool, then: Then | None = None):
        return self._call(image_id, ann_service.set_no_malignant, image_id, confirmed=confirmed, then=then)


def push(stack: QUndoStack, command: _EditCommand) -> None:
    """Push an edit that already happened; the command remembers its stack to keep its place there."""
    command.stack = stack
    stack.push(command)


class _EditCommand(QUndoCommand):
    """Skips the redo that QUndoStack.push performs: the edit already happened.

    QUndoStack moves its index past a command whatever the command did. A step that failed for a
    passing reason is moved back once the stack is done (deferred: the stack cannot be touched
    from inside its own undo/redo), through a skipped redo/undo that leaves the database alone.
    """

    def __init__(self, editor: AnnotationEditor, image_id: int, text: str) -> None:
        super().__init__(text)
        self.editor = editor
        self.image_id = image_id
        self.stack: QUndoStack | None = None  # set by ``push``
        self._skip_redo = True  # the push's redo: the edit already happened
        self._skip_undo = False

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._settle(self._redo(lambda result: self._settle(result, undoing=False)), undoing=False)

    def undo(self) -> None:
        if self._skip_undo:
            self._skip_undo = False
            return
        self._settle(self._undo(lambda result: self._settle(result, undoing=True)), undoing=True)

    def _settle(self, result: EditResult | None, undoing: bool) -> None:
        """After the step's edit, or when a database server answers it late (PENDING: nothing yet;
        a step set obsolete then goes at its next undo or redo, which fails again)."""
        if result is not None:
            if result.repairs:
                self.editor.repaired.emit("Contour stored with repairs: " + ", ".join(result.repairs))
            return
        failure = self.editor.last_failure
        if failure is Failure.PENDING:
            return
        if failure in (Failure.PASSING, Failure.BUSY) and self.stack is not None:
            self._keep_place(undoing)
        else:
            self.setObsolete(True)  # stale or refused: this step can never apply again

    def _keep_place(self, undoing: bool) -> None:
        """Schedule the step back to where it was: undone again after a failed redo, redone after a failed undo."""
        stack = self.stack
        pos = next((i for i in range(stack.count()) if stack.command(i) is self), None)
        if pos is None:
            return
        if undoing:
            self._skip_redo = True
            QTimer.singleShot(0, lambda: self._move_back(stack, pos, pos, stack.redo))
        else:
            self._skip_undo = True
            QTimer.singleShot(0, lambda: self._move_back(stack, pos, pos + 1, stack.undo))

    def _move_back(self, stack: QUndoStack, pos: int, index: int, step: Callable[[], None]) -> None:
        """Run the skipped ``step`` only if the stack is still where the failure left it."""
        try:
            if stack.index() == index and stack.command(pos) is self:
                step()
                return
        except RuntimeError:
            pass  # the stack is gone (another project, the image changed elsewhere)
        self._skip_redo = self._skip_undo = False

    def _redo(self, then: Then):  # pragma: no cover - abstract
        raise NotImplementedError

    def _undo(self, then: Then):  # pragma: no cover - abstract
        raise NotImplementedError


class AddContourCommand(_EditCommand):
    def __init__(self, editor, image_id: int, annotation_id: int, cls: LesionClass) -> None:
        super().__init__(editor, image_id, f"draw {'malignant' if cls is LesionClass.MALIGNANT else 'benign'} contour")
        self.annotation_id = annotation_id

    def _undo(self, then: Then):
        return self.editor.delete(self.image_id, self.annotation_id, then=then)

    def _redo(self, then: Then):
        return self.editor.restore(self.image_id, self.annotation_id, then=then)


class EditContourCommand(_EditCommand):
    """Outline and/or class change; undo restores the previous outline and class."""

    def __init__(self, editor, image_id: int, annotation_id: int, old: tuple[Polygon, LesionClass],
                 new: tuple[Polygon | None, LesionClass | None], text: str = "edit contour") -> None:
        super().__init__(editor, image_id, text)
        self.annotation_id, self.old, self.new = annotation_id, old, new

    def _undo(self, then: Then):
        return self.editor.edit(self.image_id, self.annotation_id, points=self.old[0], cls=self.old[1], then=then)

    def _redo(self, then: Then):
        return self.editor.edit(self.image_id, self.annotation_id, points=self.new[0], cls=self.new[1], then=then)


class DeleteContourCommand(_EditCommand):
    def __init__(self, editor, image_id: int, annotation_id: int, text: str = "delete contour") -> None:
        super().__init__(editor, image_id, text)
        self.annotation_id = annotation_id

    def _undo(self, then: Then):
        return self.editor.restore(self.image_id, self.annotation_id, then=then)

    def _redo(self, then: Then):
        return self.editor.delete(self.image_id, self.annotation_id, then=then)


class NoMalignantCommand(_EditCommand):
    def __init__(self, editor, image_id: int, confirmed: bool) -> None:
        super().__init__(editor, image_id, "confirm no malignant finding" if confirmed else "withdraw 'no malignant finding'")
        self.confirmed = confirmed

    def _undo(self, then: Then):
        return self.editor.no_malignant(self.image_id, not self.confirmed, then=then)

    def _redo(self, then: Then):
        return self.editor.no_malignant(self.image_id, self.confirmed, then=then)
