"""The window's layout: reading mode (only the image, full screen) and the layout remembered
per annotator in QSettings.

Reading rooms show the images first: panels are docks that collapse or sit in tabs, and F11
hides every panel, the menu, the tool bar and the status bar so the image or the four views
fill the screen. The dock arrangement is a per-annotator setting, restored at start.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

LAYOUT_VERSION = 2  # bump when the docks change: an old saved state is then ignored


def _key(annotator: str, what: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in annotator) or "default"
    return f"layout/{safe}/{what}"


def save_layout(window: QMainWindow, settings: QSettings, annotator: str) -> None:
    """The dock arrangement and window geometry, under the annotator's name."""
    settings.setValue(_key(annotator, "geometry"), window.saveGeometry())
    settings.setValue(_key(annotator, "state"), window.saveState(LAYOUT_VERSION))


def restore_layout(window: QMainWindow, settings: QSettings, annotator: str) -> bool:
    """Put back the annotator's saved layout; returns whether there was one."""
    geometry = settings.value(_key(annotator, "geometry"))
    state = settings.value(_key(annotator, "state"))
    done = False
    if isinstance(geometry, (QByteArray, bytes)):
        done = window.restoreGeometry(QByteArray(geometry)) or done
    if isinstance(state, (QByteArray, bytes)):
        done = window.restoreState(QByteArray(state), LAYOUT_VERSION) or done
    return done


class ReadingMode:
    """F11: the image (or the four views) alone, full screen; F11 or Esc again returns."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.active = False
        self._state: QByteArray | None = None
        self._was_maximized = False
        self._was_full = False

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active:
            return
        w = self.window
        self._state = w.saveState(LAYOUT_VERSION)
        self._was_maximized, self._was_full = w.isMaximized(), w.isFullScreen()
        for dock in w.docks:
            dock.hide()
        for bar in (w.menuBar(), w.statusBar(), *w.toolbars()):
            bar.hide()
        self.active = True
        w.showFullScreen()

    def leave(self) -> None:
        if not self.active:
            return
        w = self.window
        self.active = False
        w.menuBar().show()
        w.statusBar().show()
        if self._state is not None:
            w.restoreState(self._state, LAYOUT_VERSION)
        for bar in w.toolbars():
            bar.show()
        if not self._was_full:
            w.showMaximized() if self._was_maximized else w.showNormal()
