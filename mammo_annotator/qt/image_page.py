"""One image at work: the canvas with its layers, the drawing tools and the undoable edits.

Opening an image and redrawing it from the database: ``image_opening``. Every edit goes through
the ``AnnotationEditor`` and lands on the image's own undo stack (``image_edits``); on a database
server, saving waits ``server_calls.SERVER_WAIT_S`` at most in the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from ..core.types import LesionClass
from ..services import viewing
from ..services.project import Project
from .contour_layer import ContourLayer
from .contour_tool import FreehandTool, KeptOutline, PolygonTool, Tool
from .image_edits import ImageEdits
from .image_opening import ImageOpening
from .image_view import MammoView
from .measure_tools import EllipseTool, RulerTool
from .pacs_retrieval import PacsRetrieval
from .proposals import ProposalsOverlay
from .region_overlay import RegionOverlay
from .server_calls import Relay, ServerCall
from .theme import CONTOUR_COLOURS
from .undo import AnnotationEditor


class ImagePage(ImageOpening, ImageEdits, QObject):
    """Controller of the single-image canvas (the view is ``self.view``); its opening: ``ImageOpening``,
    its edits: ``ImageEdits``."""

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
        self._reader: ServerCall | None = None  # a database server's read of an image not answered in time
        self._wanted: tuple[int, bool] | None = None  # (image id, keep_view) the canvas waits for the server for
        self._reread_wanted: str | None = None  # "full" | "model": a reload waiting for the server (see _reread)
        self._reread_again = False  # a reload was asked after the read in flight began: read once more
        self._reads = Relay()  # no Qt parent: the read threads keep it alive until they have reported
        self._reads.ended.connect(self._on_server_read, Qt.QueuedConnection)
        self.contours.edited.connect(self._on_contour_edited)
        self.editor.failed.connect(self._on_edit_failed)
        self.editor.stale.connect(self._on_stale)
        self.editor.repaired.connect(self.message.emit)
        self._init_edits()

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

    def cancel_drawing(self) -> bool:
        """Escape: drop the outline being drawn; returns whether there was one."""
        return self._cancel_drawing()

    def _cancel_drawing(self) -> bool:
        kept = self.kept.take() is not None
        in_flight = self.editor.saving(self.image_id)  # a moved outline the server has yet to answer for stays
        if (not in_flight and self.contours.discard_unsaved()) or kept:  # an outline whose save failed: discarded
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

    # edits (the rest: ImageEdits) -----------------------------------------------------------
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

    def set_project(self, project: Project) -> None:
        """Switch databases: the undo history belongs to the old one and is dropped."""
        self._waiting = None  # an image of the old project still being retrieved is not shown
        self._reader, self._wanted, self._reread_wanted = None, None, None  # nor one its server had not answered for
        self.editor.forget_pending()  # the old server's late answers are not taken up (nor its outlines shown)
        self._held = {}
        self._waiting_note.stop()
        self._show_nothing()
        for stack in self.stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self.stacks = {}
        self.project = project
        self.editor.project = project
        self.editor.revisions = {}
