"""Opening an image on the canvas (part of ``ImagePage``) and redrawing it from the database.

Opening reads everything through ``services.viewing`` and ``services.pixels``; an image that
must first be retrieved from its PACS is read in a worker (``PacsRetrieval``) while the canvas
says so, and the reader may open another meanwhile. The page redraws from the database when the
project announces a change, never from its own guesses. On a database server, opening and
reloading wait ``server_calls.SERVER_WAIT_S`` at most in the GUI thread; a server slower than
that is answered when it answers, the window staying usable.
"""

from __future__ import annotations

import time
from html import escape

from ..core.errors import ImageReadError, MammoError
from ..core.types import LesionClass
from ..services import viewing
from ..services.pixels import load_pixels, needs_pacs_fetch
from .display_presets import display_presets, preset_for
from .measure_tools import RulerTool
from .pacs_retrieval import Retrieved
from .server_calls import ServerCall, read_error


class ImageOpening:
    """Mixin of ``ImagePage``: uses its project, view, layers, editor, retrieval, read relay and signals."""

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
