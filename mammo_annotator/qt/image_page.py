"""One image at work: the canvas with its layers, the drawing tools and the undoable edits.

Opening reads everything through ``services.viewing`` and ``services.pixels``; an image that
must first be retrieved from its PACS is read in a worker (``PacsRetrieval``) while the canvas
says so, and the reader may open another meanwhile. Every edit goes through the
``AnnotationEditor`` and lands on the image's own undo stack. The page redraws
from the database when the project announces a change, never from its own guesses.
"""

from __future__ import annotations

import threading
import time
from html import escape

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from ..core.errors import ImageReadError, MammoError
from ..core.types import LesionClass
from ..services import viewing
from ..services.pixels import load_pixels, needs_pacs_fetch
from ..services.project import Project
from ..core.contours import outer_outline
from .contour_tool import ContourLayer, FreehandTool, KeptOutline, PolygonTool, Tool
from .image_view import MammoView, display_presets, preset_for
from .measure_tools import EllipseTool, RulerTool
from .pacs_retrieval import PacsRetrieval, Retrieved
from .proposals import ProposalsOverlay
from .region_overlay import RegionOverlay
from .theme import CONTOUR_COLOURS
from .undo import (AddContourCommand, AnnotationEditor, DeleteContourCommand, EditContourCommand, Failure,
                   NoMalignantCommand, push, repairs_note)

KEPT_HINT = "press Enter to save it again or Esc to discard it"
SERVER_WAIT_S = 0.5  # the longest an open waits in the GUI thread for a database server's answer


class _ServerReads(QObject):
    """Carries the end of a ``_BundleRead`` to the GUI thread. The threads hold this small object,
    never the page and its widgets (the thread of a dead server may outlive the window)."""

    ended = Signal(object)  # the _BundleRead


class _BundleRead:
    """One image's database reads in a daemon thread, announced by ``reads.ended`` (a thread stuck
    on a dead server is left behind: it only reads, and once the page is gone nobody listens)."""

    def __init__(self, reads: _ServerReads, project: Project, image_id: int) -> None:
        self.image_id = image_id
        self.bundle: viewing.ImageBundle | None = None
        self.error: Exception | None = None
        self.done = threading.Event()

        def run() -> None:
            try:
                self.bundle = viewing.load_bundle(project, image_id)
            except (MammoError, KeyError) as exc:
                self.error = exc
            except Exception as exc:  # noqa: BLE001 - a driver or pool error: shown as the reason, not lost
                self.error = MammoError(f"{project.location}: {type(exc).__name__}: {exc}")
            self.done.set()
            try:
                reads.ended.emit(self)
            except RuntimeError:  # deleted with the Qt side at exit: nobody is waiting
                pass

        threading.Thread(target=run, name=f"open-image-{image_id}", daemon=True).start()


class ImagePage(QObject):
    """Controller of the single-image canvas (the view is ``self.view``)."""

    bundleChanged = Signal(object)  # ImageBundle or None
    imageOpened = Signal(int)  # a different image is on screen (not a reload)
    retrievedShown = Signal(int)  # an image open_image had returned False for (PACS, a slow server) is on screen
    annotated = Signal(str)  # "contour" (a malignant contour saved) | "no_malignant": the image is done
    toolChanged = Signal(str)
    message = Signal(str)  # transient status-bar text
    error = Signal(str, str)  # title, text: shown by the window

    def __init__(self, project: Project, annotator: str, undo_group: QUndoGroup) -> None:
        super().__init__()
        self.project = project
        self.view = MammoView()
        self.regions = RegionOverlay(self.view)
        self.proposals = ProposalsOverlay(self.view)
        self.contours = ContourLayer(self.view)
        self.kept = KeptOutline(self.view)  # a drawn outline not saved, from a tool that let go of it
        self.editor = AnnotationEditor(project, annotator)
        self.undo_group = undo_group
        self.stacks: dict[int, QUndoStack] = {}
        self.bundle: viewing.ImageBundle | None = None
        self.image_id: int | None = None
        self.cls = LesionClass.MALIGNANT
        self.tool = Tool.NAVIGATE
        self._handler = None
        self.last_open_ms = 0.0
        self.retrieval = PacsRetrieval()
        self.retrieval.finished.connect(self._on_retrieved)
        self._waiting: int | None = None  # the retrieval request the canvas is showing as in progress
        self._reader: _BundleRead | None = None  # a database server's read not answered in time
        self._wanted: tuple[int, bool] | None = None  # (image id, keep_view) the canvas waits for the server for
        self._reads = _ServerReads()  # no Qt parent: the read threads keep it alive until they have reported
        self._reads.ended.connect(self._on_server_read, Qt.QueuedConnection)
        self.contours.edited.connect(self._on_contour_edited)
        self.editor.failed.connect(self._on_edit_failed)
        self.editor.stale.connect(self._on_stale)
        self.editor.repaired.connect(self.message.emit)

    # opening --------------------------------------------------------------------------------
    def open_image(self, image_id: int, keep_view: bool = False) -> bool:
        """Show the image (True); a missing file or a database problem becomes a message, not a crash.
        An image to retrieve from its PACS first returns False at once with the canvas saying so; it
        is shown (``retrievedShown``) or its message given once retrieved, unless another was asked
        for meanwhile. On a database server the same holds for a server slow to answer (see
        ``_read_from_server``)."""
        t0 = time.perf_counter()
        self._cancel_drawing()
        self._waiting = None  # an image still being retrieved is no longer the one wanted
        self._wanted = None  # nor one the database server has not answered for yet
        if self.project.is_server:
            read = self._read_from_server(image_id, keep_view)
            if read is None:
                return False
            bundle, error = read
        else:
            try:
                bundle, error = viewing.load_bundle(self.project, image_id), None
            except (MammoError, KeyError) as exc:
                bundle, error = None, exc
        return self._show_read(image_id, keep_view, bundle, error, t0)

    def _read_from_server(self, image_id: int, keep_view: bool) -> tuple | None:
        """The image's database reads run in a thread, waited for ``SERVER_WAIT_S`` at most: a
        server that stopped answering held the window for the connection timeout (10 s), or for
        ever on a pooled connection whose server went silent. Returns (bundle, error), or None
        with the canvas saying it waits (the image is shown when the answer comes, as for a
        PACS retrieval). One read at a time: a server that does not answer is not asked again."""
        if self._reader is None or self._reader.done.is_set():
            self._reader = _BundleRead(self._reads, self.project, image_id)
            if self._reader.done.wait(SERVER_WAIT_S):
                read, self._reader = self._reader, None
                return read.bundle, read.error
        self._show_nothing()  # never the previous image under the new one's name while it comes
        self._wanted = (image_id, keep_view)
        where = self.project.location
        self.view.set_notice(f"<b>Waiting for the database server…</b><br><small>image {image_id} · {escape(where)}</small>")
        self.message.emit(f"The database server ({where}) is not answering; image {image_id} is shown when it does")
        return None

    def _on_server_read(self, read: _BundleRead) -> None:
        """A read the window stopped waiting for has ended: show what is wanted now."""
        if read is not self._reader:
            return  # answered in time (already shown), or a read of the previous project
        self._reader = None
        wanted, self._wanted = self._wanted, None
        if wanted is None:
            return  # the reader moved on to an image that needed no read (another project)
        image_id, keep_view = wanted
        if image_id == read.image_id:
            shown = self._show_read(image_id, keep_view, read.bundle, read.error, time.perf_counter())
        else:  # another image was asked for meanwhile: read it now
            shown = self.open_image(image_id, keep_view)
        if shown:
            self.retrievedShown.emit(image_id)

    @property
    def waiting_for_server(self) -> bool:
        """The canvas is waiting for the database server's answer."""
        return self._wanted is not None

    def _show_read(self, image_id: int, keep_view: bool, bundle: viewing.ImageBundle | None, error: Exception | None,
                   t0: float) -> bool:
        try:
            if error is not None:
                raise error
            if needs_pacs_fetch(bundle.record):
                self._retrieve(bundle.record)
                return False
            pixels = load_pixels(bundle.record)
        except (MammoError, KeyError) as exc:
            self._failed(exc)
            return False
        self.view.set_notice("")
        same = self.image_id == image_id
        self.image_id = image_id
        if not (same and keep_view and self.view.pixels is not None):
            self.view.set_image(pixels, display_presets(pixels, bundle.record), fit=True, default=preset_for(bundle.record))
        if not same:
            self.set_class(LesionClass.MALIGNANT)  # a class carried over from the last image invites mislabelling
            self.contours.selected = None
            if isinstance(self._handler, RulerTool):
                self._handler.cancel()
                self._handler.spacing = bundle.record.pixel_spacing_mm
        self._show_bundle(bundle)
        self.undo_group.setActiveStack(self._stack(image_id))
        self.last_open_ms = (time.perf_counter() - t0) * 1000
        if not same:
            self.imageOpened.emit(image_id)
        return True

    def _failed(self, exc: Exception) -> None:
        """Nothing on the canvas and the reason in a message (a retrieval thread's error may be any)."""
        if isinstance(exc, ImageReadError):
            title, text = "Image unavailable", f"The image cannot be shown.\n\n{exc}"
        elif isinstance(exc, (MammoError, KeyError)):
            title, text = "Cannot open image", str(exc)
        else:
            title, text = "Cannot open image", f"{type(exc).__name__}: {exc}"
        self._show_nothing()
        self.error.emit(title, text)

    def _retrieve(self, record) -> None:
        self._show_nothing()  # never the previous image under the new one's name while it comes
        self._waiting = self.retrieval.start(record)
        self.view.set_notice(f"<b>Retrieving image {record.id} from the PACS…</b><br>"
                             f"<small>{escape(record.display_name)} · {escape(record.pacs.url)}</small>")
        self.message.emit(f"Retrieving image {record.id} from the PACS…")

    def _on_retrieved(self, outcome: Retrieved) -> None:
        if outcome.request != self._waiting:
            return  # the reader moved on; the copy stays cached for when they come back
        self._waiting = None
        if outcome.error is not None:
            self._failed(outcome.error)
            return
        if self.open_image(outcome.image_id):
            self.retrievedShown.emit(outcome.image_id)

    @property
    def retrieving(self) -> bool:
        """The canvas is waiting for an image from the PACS."""
        return self._waiting is not None

    def reload(self) -> None:
        """Redraw the current image's annotations from the database (after any change)."""
        bundle = self._reread()
        if bundle is not None:
            self._show_bundle(bundle)

    def reload_model(self) -> None:
        """After another model became active: its proposals only (region labels and contours
        come from the annotations, which did not change; redrawing them cost half the refresh)."""
        bundle = self._reread() if self.bundle is not None else None
        if bundle is None:
            return
        if bundle.record.revision != self.bundle.record.revision:
            self._show_bundle(bundle)  # edited meanwhile: everything
            return
        self.bundle = bundle
        self.proposals.set_bundle(bundle)
        self.bundleChanged.emit(bundle)

    def _reread(self) -> viewing.ImageBundle | None:
        """The shown image's bundle read again (None, with a message, when it cannot be)."""
        if self.image_id is None:
            return None
        try:
            return viewing.load_bundle(self.project, self.image_id)
        except (MammoError, KeyError) as exc:
            self.error.emit("Cannot reload image", str(exc))
            return None

    def _show_bundle(self, bundle: viewing.ImageBundle) -> None:
        self.bundle = bundle
        r = bundle.record
        self.editor.seen(r.id, r.revision)
        self.regions.set_regions(bundle.regions, r.height, r.width)
        self.proposals.set_bundle(bundle)
        self.contours.set_contours(bundle.contours)
        self.bundleChanged.emit(bundle)

    def _show_nothing(self) -> None:
        self.image_id = None
        self.bundle = None
        self.view.clear()
        self.regions.set_regions(None, 1, 1)
        self.proposals.set_bundle(None)
        self.contours.set_contours([])
        self.undo_group.setActiveStack(None)
        self.view.set_notice("")
        self.bundleChanged.emit(None)

    def _stack(self, image_id: int) -> QUndoStack:
        if image_id not in self.stacks:
            stack = QUndoStack(self.undo_group)
            self.stacks[image_id] = stack
        return self.stacks[image_id]

    # tools ------------------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self._cancel_drawing()
        if self._handler is not None:
            self._handler.detach()
            self._handler = None
        self.tool = tool
        if tool is Tool.POLYGON:
            self._handler = PolygonTool(self.view)
        elif tool is Tool.FREEHAND:
            self._handler = FreehandTool(self.view)
        elif tool is Tool.ELLIPSE:
            self._handler = EllipseTool(self.view)
        elif tool is Tool.RULER:
            self._handler = RulerTool(self.view, self.bundle.record.pixel_spacing_mm if self.bundle else None)
            self._handler.measured.connect(lambda v, u: self.message.emit(f"Length {v:.1f} mm" if u == "mm" else
                                                                          f"Length {v:.0f} px (no pixel spacing)"))
        if self._handler is not None:
            self._handler.set_colour(CONTOUR_COLOURS[self.cls.value])
            if hasattr(self._handler, "completed"):
                self._handler.completed.connect(self._on_outline)
            if hasattr(self._handler, "tooFew"):
                self._handler.tooFew.connect(self._on_too_few)
        self.view.set_tool(self._handler)
        self.contours.set_editable(tool is Tool.EDIT)
        self.toolChanged.emit(tool.value)

    def _on_too_few(self) -> None:
        """Enter or a double-click on 1-2 points, or a freehand stroke too short: say why nothing closed."""
        if isinstance(self._handler, FreehandTool):
            self.message.emit("Stroke too short for an outline: press, draw round the lesion, release")
        else:
            self.message.emit("An outline needs at least 3 points: click more, or Esc to cancel")

    def set_class(self, cls: LesionClass) -> None:
        self.cls = cls
        if self._handler is not None:
            self._handler.set_colour(CONTOUR_COLOURS[cls.value])

    def finish_drawing(self) -> bool:
        """Enter: close the outline being drawn, or save again one whose save failed."""
        kept = self.kept.take()
        if kept is not None:
            self._on_outline(kept)
            return True
        if self.contours.unsaved:
            for annotation_id, points in list(self.contours.unsaved.items()):
                self._edit_outline(annotation_id, points)
            return True
        return bool(self._handler is not None and self._handler.finish())

    def cancel_drawing(self) -> bool:
        """Escape: drop the outline being drawn; returns whether there was one."""
        return self._cancel_drawing()

    def _cancel_drawing(self) -> bool:
        kept = self.kept.take() is not None
        if self.contours.discard_unsaved() or kept:  # an outline whose save failed: discarded
            return True
        if self._handler is not None and self._handler.drawing:
            self._handler.cancel()
            return True
        if isinstance(self._handler, RulerTool) and self._handler.text_value:
            self._handler.cancel()  # Escape clears the ruler
            return True
        return False

    def undo_last_point(self) -> None:
        if isinstance(self._handler, PolygonTool):
            self._handler.undo_point()

    # edits ------------------------------------------------------------------------------------
    def _push(self, command) -> None:
        push(self._stack(command.image_id), command)

    def _on_edit_failed(self, text: str) -> None:
        self.message.emit("")  # an earlier "contour saved" must not stand beside the error
        self.error.emit("Edit not saved", text)

    def _on_outline(self, points: np.ndarray) -> None:
        """Save a finished outline; the tool's outline is cleared only once the database has it."""
        if self.image_id is None:
            return
        self.kept.take()  # a new outline replaces one whose save had failed
        outline, crossed = outer_outline(points)  # a stroke that crosses itself: the area it surrounds
        result = self.editor.add(self.image_id, outline, self.cls)
        if result is None and self.editor.last_failure is Failure.PASSING:
            self._keep_outline(points)  # locked, read-only...: the same outline may save later
            return
        if self._handler is not None and self._handler.drawing:
            self._handler.cancel()  # saved, or refused for good (no area...): the tool starts afresh
        if result is None:
            return
        self._push(AddContourCommand(self.editor, self.image_id, result.annotation_id, self.cls))
        what = "Malignant" if self.cls is LesionClass.MALIGNANT else "Benign"
        notes = ["it crossed itself: stored as its outer outline"] if crossed else []
        notes += list(result.repairs)
        self.message.emit(f"{what} contour saved" + (f" ({'; '.join(notes)})" if notes else ""))
        if self.cls is LesionClass.MALIGNANT:
            self.annotated.emit("contour")

    def _keep_outline(self, points: np.ndarray) -> None:
        """A failed save: the outline stays drawn (in the tool, or here for a tool that let go of it)."""
        if self._handler is None or not self._handler.drawing:
            self.kept.keep(points, CONTOUR_COLOURS[self.cls.value])
        self.message.emit(f"Contour not saved; it is still drawn: {KEPT_HINT}")

    def centre_on(self, annotation_id: int) -> None:
        """Select a contour and bring it to the middle of the canvas (zoomed out to show it whole)."""
        rec = self._record(annotation_id)
        if rec is None:
            return
        self.contours.select(annotation_id)
        x0, y0, x1, y1 = rec.polygon.bounds
        (vx0, vx1), (vy0, vy1) = self.view.vb.viewRange()
        w, h = max(vx1 - vx0, (x1 - x0) * 1.5), max(vy1 - vy0, (y1 - y0) * 1.5)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.view.vb.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0)
        (vx0, vx1), (vy0, vy1) = self.view.vb.viewRange()  # the locked aspect may have widened one axis
        self.view.vb.translateBy(x=cx - (vx0 + vx1) / 2, y=cy - (vy0 + vy1) / 2)

    def _record(self, annotation_id: int):
        for rec in self.bundle.contours if self.bundle else []:
            if rec.id == annotation_id:
                return rec
        return None

    def _on_contour_edited(self, annotation_id: int, points: np.ndarray) -> None:
        # deferred: the ROI that emitted this is rebuilt by the reload the edit triggers
        QTimer.singleShot(0, lambda: self._edit_outline(annotation_id, points))

    def _edit_outline(self, annotation_id: int, points: np.ndarray) -> None:
        from ..core.types import Polygon

        rec = self._record(annotation_id)
        if rec is None or self.image_id is None:
            return
        new = Polygon.from_array(points)
        self.contours.forget_unsaved(annotation_id)
        if np.allclose(new.as_array(), rec.polygon.as_array()) if len(new.points) == len(rec.polygon.points) else False:
            return
        result = self.editor.edit(self.image_id, annotation_id, points=new)
        if result is not None:
            self._push(EditContourCommand(self.editor, self.image_id, annotation_id, (rec.polygon, rec.cls), (new, None),
                                          text=f"edit the outline of a {'malignant' if rec.cls is LesionClass.MALIGNANT else 'benign'} contour"))
            self.message.emit("Contour updated" + repairs_note(result))
        elif self.editor.last_failure is Failure.PASSING:
            self.contours.keep_unsaved(annotation_id, points)  # the edit stays on screen for another try
            self.message.emit(f"Outline edit not saved; it is still shown: {KEPT_HINT}")
        else:
            self.reload()  # refused or stale: put the outline back where the database has it

    def delete_selected(self) -> None:
        aid = self.contours.selected
        if aid is None or self.image_id is None:
            self.message.emit("Select a contour first (Edit tool or the Contours list)")
            return
        rec = self._record(aid)
        what = f"delete {'malignant' if rec is not None and rec.cls is LesionClass.MALIGNANT else 'benign'} contour"
        if self.editor.delete(self.image_id, aid) is not None:
            self._push(DeleteContourCommand(self.editor, self.image_id, aid, text=what))

    def toggle_selected_class(self) -> None:
        rec = self._record(self.contours.selected) if self.contours.selected else None
        if rec is None or self.image_id is None:
            self.message.emit("Select a contour first (Edit tool or the Contours list)")
            return
        new = LesionClass.BENIGN if rec.cls is LesionClass.MALIGNANT else LesionClass.MALIGNANT
        if self.editor.edit(self.image_id, rec.id, cls=new) is not None:
            self._push(EditContourCommand(self.editor, self.image_id, rec.id, (rec.polygon, rec.cls), (None, new),
                                          text=f"change a contour to {'benign' if new is LesionClass.BENIGN else 'malignant'}"))

    def set_no_malignant(self, confirmed: bool) -> None:
        if self.image_id is None:
            return
        if self.editor.no_malignant(self.image_id, confirmed) is not None:
            self._push(NoMalignantCommand(self.editor, self.image_id, confirmed))
            if confirmed:
                self.annotated.emit("no_malignant")
        else:
            self.reload()

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

    def set_project(self, project: Project) -> None:
        """Switch databases: the undo history belongs to the old one and is dropped."""
        self._waiting = None  # an image of the old project still being retrieved is not shown
        self._reader, self._wanted = None, None  # nor one its server had not answered for
        self._show_nothing()
        for stack in self.stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self.stacks = {}
        self.project = project
        self.editor.project = project
        self.editor.revisions = {}
