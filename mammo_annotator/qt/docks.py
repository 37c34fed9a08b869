"""The main window's panels as docks: the worklist at the left, the Reading / Marks / Contours
tabs at the right, the model's docks (built by ``ModelUI``) closed at the bottom; and how wide
the side docks start, so the image keeps most of the width."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QScrollArea, QTabWidget

if TYPE_CHECKING:
    from .main_window import MainWindow


def side_widths(window_width: int) -> tuple[int, int]:
    """First-start widths of the worklist and the reading panel, the image first: at 1366 px each
    panel just holds its full content (the demo's worklist columns, the Reading and Marks tabs
    without sideways scrolling) and the image keeps over half the width (it had 49 %); at 1920 px
    they stop growing (the image gets 63 %); below, they narrow, the worklist dropping its
    thumbnail and label columns and the panel taking shorter texts, down to 240 and 250 px in an
    800-pixel window (no control is cut off: the tabs scroll)."""
    left = max(240, min(360, window_width // 4 + 4))
    right = max(250, min(340, int(window_width * 0.225)))
    return left, right


class PanelScroll(QScrollArea):
    """A reading-panel tab: it scrolls both ways when the dock is narrower or lower than the
    panel (with the horizontal bar always off, an 800-pixel window cut the controls off at the
    right, out of reach), and lets a panel with a ``fit_width`` shorten its texts first."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)

    def resizeEvent(self, event) -> None:
        fit = getattr(self.widget(), "fit_width", None)
        if fit is not None:  # the area's own width (the viewport's resizes come here too), less a vertical
            # bar's: a bar coming and going does not flip the texts
            fit(self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width())
        super().resizeEvent(event)


def _side_dock(window: MainWindow, title: str, name: str, widget) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)  # the saved layout finds the dock by this name
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
    return dock


def build_docks(window: MainWindow) -> tuple[QTabWidget, tuple[QDockWidget, ...]]:
    """Worklist | image | reading tabs; the model's docks wait, closed, at the bottom: the image
    first. Returns the reading tabs and every dock, the worklist and the reading dock first."""
    left = _side_dock(window, "Worklist", "worklistDock", window.worklist)
    window.addDockWidget(Qt.LeftDockWidgetArea, left)
    tabs = QTabWidget()
    tabs.setDocumentMode(True)
    for widget, title in ((window.side, "Reading"), (window.cad, "Marks"), (window.contour_list, "Contours")):
        tabs.addTab(PanelScroll(widget), title)
    right = _side_dock(window, "Reading", "sideDock", tabs)
    window.addDockWidget(Qt.RightDockWidgetArea, right)
    window.resizeDocks([left, right], [380, 320], Qt.Horizontal)
    docks = (left, right, *window.model_ui.add_docks(left))
    nxt = window.model_ui.next_dock  # tabbed with the worklist: its width must not hold the worklist wide
    nxt.setWidget(PanelScroll(nxt.widget()))
    return tabs, docks


def fit_side_docks(window: MainWindow) -> None:
    """First start (no saved layout): the side docks as narrow as their text allows."""
    left, right = window.docks[0], window.docks[1]
    window.resizeDocks([left, right], list(side_widths(window.width())), Qt.Horizontal)
