"""Opening an image that must first be retrieved from its PACS, without holding the window.

``services.pixels.load_pixels`` retrieves a PACS image this machine lacks over WADO-RS (about
0.7 s from a local Orthanc; a PACS that does not answer holds the caller for the client's
timeouts: 3 attempts, each 10 s to connect and 120 s to answer). The viewer asks
``needs_pacs_fetch`` first (files only, no network) and, when it is so, hands the read to
``PacsRetrieval``: one thread per image, as the thumbnails do (the HTTP request cannot be
interrupted, so a daemon thread: closing the window never waits for the PACS).
The outcome comes back queued, in the GUI thread, tagged with its request number, so the viewer
keeps only the one it is still waiting for. The thumbnail thread may want the same instance at
the same moment: ``services.pacs_fetch`` retrieves it once for both.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal

from ..core.records import ImageRecord


@dataclass(frozen=True)
class Retrieved:
    """A retrieval's outcome: its pixels are now in the pixel cache, or ``error`` says why not."""

    request: int
    image_id: int
    error: Exception | None = None


class PacsRetrieval(QObject):
    """Reads PACS images off the GUI thread; ``finished`` carries each ``Retrieved``, in the GUI thread."""

    finished = Signal(object)  # Retrieved
    _done = Signal(object)  # emitted in a retrieval thread, delivered queued to _on_done

    def __init__(self) -> None:
        super().__init__()  # no Qt parent: the threads keep this object alive until they have reported
        self._requests = itertools.count(1)
        self._running: dict[tuple[int, str], tuple[int, threading.Thread]] = {}  # (image id, sha256) -> request, thread
        self._done.connect(self._on_done, Qt.QueuedConnection)

    @property
    def busy(self) -> bool:
        """A retrieval has not reported yet (its outcome not yet handled in the GUI thread)."""
        return bool(self._running)

    def start(self, record: ImageRecord) -> int:
        """Retrieve and decode ``record`` in the background; returns the request number its outcome
        will carry (the running one when this image is already being retrieved: it is asked once)."""
        key = (record.id, record.sha256)
        if key in self._running:
            return self._running[key][0]
        request = next(self._requests)
        thread = threading.Thread(target=self._run, args=(request, record), name=f"pacs-retrieval-{record.id}", daemon=True)
        self._running[key] = (request, thread)
        thread.start()
        return request

    def wait(self, timeout: float = 60.0) -> bool:
        """Join every retrieval thread (tests); True when all have ended. Their outcomes still need the event loop."""
        for _request, thread in list(self._running.values()):
            thread.join(timeout)
        return not any(thread.is_alive() for _r, thread in self._running.values())

    def _run(self, request: int, record: ImageRecord) -> None:
        from ..services.pixels import load_pixels

        error: Exception | None = None
        try:
            load_pixels(record)  # retrieved, verified, decoded into the pixel cache: the viewer then opens it at once
        except Exception as exc:  # any failure is the viewer's message, never a thread dying unseen
            error = exc
        try:
            self._done.emit((record.id, record.sha256, Retrieved(request, record.id, error)))
        except RuntimeError:  # the window was closed and its Qt side deleted: nobody is waiting
            pass

    def _on_done(self, payload: tuple[int, str, Retrieved]) -> None:
        image_id, sha256, outcome = payload
        running = self._running.get((image_id, sha256))
        if running is not None and running[0] == outcome.request:
            del self._running[(image_id, sha256)]
        self.finished.emit(outcome)
