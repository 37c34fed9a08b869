"""Worklist thumbnails, made on demand in one background thread and kept in memory.

A row asks for its thumbnail when it is painted; the image is read (through the pixel cache),
reduced by striding to ``SIZE`` pixels high, windowed to the breast and handed back as a
QImage; the model repaints that row. Nothing is made for rows nobody scrolls to.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from ..core.records import ImageRecord
from ..core.windowing import percentile_window, to_display

SIZE = 34


def thumbnail_array(pixels: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 (h <= size) preview: strided, then windowed on the pixels above the background."""
    step = max(1, int(np.ceil(max(pixels.shape[:2]) / size)))
    small = np.ascontiguousarray(pixels[::step, ::step])
    mask = small > small.min()
    win = percentile_window(small, mask if mask.any() else None, 1.0, 99.5)
    return np.ascontiguousarray(to_display(small, win.center, win.width))


class Thumbnails(QObject):
    ready = Signal(int)  # image id

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pixmaps: dict[int, QPixmap] = {}
        self._images: dict[int, QImage] = {}
        self._asked: set[int] = set()
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._done = _Relay()
        self._done.made.connect(self._on_made, Qt.QueuedConnection)
        self.load_record = None  # image id -> ImageRecord (set by the worklist owner)

    def get(self, image_id: int) -> QPixmap | None:
        """The thumbnail if made; otherwise ask for it (once) and return None."""
        pm = self.pixmaps.get(image_id)
        if pm is None and image_id not in self._asked and self.load_record is not None:
            self._asked.add(image_id)
            self._queue.put(image_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="thumbnails", daemon=True)
                self._thread.start()
        return pm

    def _run(self) -> None:
        from ..core.errors import MammoError
        from ..services.pixels import load_pixels

        while True:
            try:
                image_id = self._queue.get(timeout=1.0)
            except queue.Empty:
                return
            if image_id is None:
                return
            try:
                arr = thumbnail_array(load_pixels(self.load_record(image_id)))
            except (MammoError, KeyError, OSError, ValueError):
                continue  # a missing file shows no thumbnail; opening it says why
            h, w = arr.shape
            img = QImage(arr.data, w, h, w, QImage.Format_Grayscale8).copy()
            self._done.made.emit(image_id, img)
            time.sleep(0.02)  # let the GUI thread have the interpreter between two images

    def _on_made(self, image_id: int, img: QImage) -> None:
        self.pixmaps[image_id] = QPixmap.fromImage(img)
        self.ready.emit(image_id)

    def clear(self) -> None:
        self.pixmaps.clear()
        self._asked.clear()

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)


class _Relay(QObject):
    made = Signal(int, object)
