"""One image at work: the canvas with its layers, the drawing tools and the undoable edits.

Opening reads everything through ``services.viewing`` and ``services.pixels``; an image that
must first be retrieved from its PACS is read in a worker (``PacsRetrieval``) while the canvas
says so, and the reader may open another meanwhile. Every edit goes through the
``AnnotationEditor`` and lands on the image's own undo stack (``image_edits``). The page redraws
from the database when the project announces a change, never from its own guesses. On a database
server, opening, reloading and saving wait ``server_calls.SERVER_WAIT_S`` at most in the GUI
thread; a server slower than that is answered when it answers, the window staying usable.
"""

from __future__ import annotations

import time
from html import escape

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from ..core.errors import ImageReadError, MammoError
from ..core.types import LesionClass
from ..services import viewing
from ..services.pixels import load_pixels, needs_pacs_fetch
from ..services.project import Project
from .contour_tool import ContourLayer, FreehandTool, KeptOutline, PolygonTool, Tool
from .image_edits import ImageEdits
from .image_view import MammoView, display_presets, preset_for
from .measure_tools import EllipseTool, RulerTool
from .pacs_retrieval import PacsRetrieval, Retrieved
from .proposals import ProposalsOverlay
from .region_overlay import RegionOverlay
from .server_calls import Relay, ServerCall, read_error
from .theme import CONTOUR_COLOURS
from .undo import AnnotationEditor


class ImagePage(ImageEdits, QObject):
    """Controller of the single-image canvas (the view is ``self.view``); its edits: ``ImageEdits``."""

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
        self._reread_wanted = None  # the image is read afresh
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
        if self._reader is None or not self._reader.running:
            self._reader = self._server_read(image_id)
            if self._reader.answered():
                read, self._reader = self._reader, None
                return read.result, read_error(read.error, self.project.location)
        self._show_nothing()  # never the previous image under the new one's name while it comes
        self._wanted = (image_id, keep_view)
        where = self.project.location
        self.view.set_notice(f"<b>Waiting for the database server…</b><br><small>image {image_id} · {escape(where)}</small>")
        self.message.emit(f"The database server ({where}) is not answering; image {image_id} is shown when it does")
        return None

    def _server_read(self, image_id: int) -> ServerCall:
        project = self.project
        return ServerCall(self._reads, f"read-image-{image_id}", lambda: viewing.load_bundle(project, image_id), image_id)

    def _on_server_read(self, read: ServerCall) -> None:
        """A read the window stopped waiting for has ended: show what is wanted now."""
        if read is not self._reader:
            return  # answered in time (already shown), or a read of the previous project
        self._reader = None
        wanted, self._wanted = self._wanted, None
        if wanted is None:
            self._reread_answered(read)  # a reload's, if one still wants it
            return
        image_id, keep_view = wanted
        if image_id == read.tag:
            shown = self._show_read(image_id, keep_view, read.result, read_error(read.error, self.project.location),
                                    time.perf_counter())
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
        self._reread("full")

    def reload_model(self) -> None:
        """After another model became active: its proposals only (region labels and contours
        come from the annotations, which did not change; redrawing them cost half the refresh)."""
        if self.bundle is not None:
            self._reread("model")

    def _reread(self, how: str) -> None:
        """The shown image read again and shown (``how``: "full", or "model"). On a server the read
        is waited for ``SERVER_WAIT_S`` at most (a silent server held the window for up to a minute)
        and shown when it comes; one read at a time, a reload asked meanwhile reads once more after it."""
        if self.image_id is None:
            return
        if not self.project.is_server:
            try:
                bundle = viewing.load_bundle(self.project, self.image_id)
            except (MammoError, KeyError) as exc:
                self.error.emit("Cannot reload image", str(exc))
                return
            self._show_reread(how, bundle)
            return
        self._reread_wanted = "full" if "full" in (how, self._reread_wanted) else how
        if self._reader is not None and self._reader.running:
            self._reread_again = True  # the read in flight may predate the change
            return
        self._reader, self._reread_again = self._server_read(self.image_id), False
        if self._reader.answered():
            read, self._reader = self._reader, None
            self._reread_answered(read)
            return
        self.message.emit(f"The database server ({self.project.location}) is not answering; "
                          f"image {self.image_id} is redrawn when it does")

    def _reread_answered(self, read: ServerCall) -> None:
        how, self._reread_wanted = self._reread_wanted, None
        if how is None or read.tag != self.image_id:
            return  # no reload wanted, or the reader has moved on
        if self._reread_again:
            self._reread(how)
        elif read.error is not None:
            self.error.emit("Cannot reload image", str(read_error(read.error, self.project.location)))
        else:
            self._show_reread(how, read.result)

    def _show_reread(self, how: str, bundle: viewing.ImageBundle) -> None:
        if how == "full" or self.bundle is None or bundle.record.revision != self.bundle.record.revision:
            self._show_bundle(bundle)  # "model" but edited meanwhile: everything
            return
        self.bundle = bundle
        self.proposals.set_bundle(bundle)
        self.bundleChanged.emit(bundle)

    def _show_bundle(self, bundle: viewing.ImageBundle) -> None:
        self.bundle = bundle
        r = bundle.record
        self.editor.seen(r.id, r.revision)
        self.regions.set_regions(bundle.regions, r.height, r.width)
        self.proposals.set_bundle(bundle)
        self.contours.set_contours(bundle.contours)
        self._show_held()
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
        self._show_held()
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
