"""The main window's tool bar: the drawing tools, undo/redo and the view switches, with icons
(which the menus show too), and texts that give way to icons alone, one by one, when the window
is too narrow for them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolBar

from .contour_tool import Tool
from .theme import icon

if TYPE_CHECKING:
    from .main_window import MainWindow


def build_toolbar(window: MainWindow) -> QToolBar:
    """The window's bar with its tool and view actions; ``ModelUI`` adds its own after them."""
    tb = QToolBar("Tools", window)
    window.addToolBar(tb)
    tb.setObjectName("toolbar")
    tb.setMovable(False)
    for tool in Tool:
        tb.addAction(window.tool_actions[tool])
    tb.addSeparator()
    tb.addAction(window.undo_action)
    tb.addAction(window.redo_action)
    tb.addSeparator()
    for a in (window.four_action, window.invert_action, window.proposals_action):
        tb.addAction(a)
    window.reading_action.setIconText("Reading mode")
    tb.addAction(window.reading_action)
    return tb


def dress_toolbar(window: MainWindow, tb: QToolBar) -> list[QAction]:
    """Icons and text styles, once every action is on the bar; returns the actions in the
    order they lose their text in a narrow window (see ``fit_toolbar``)."""
    model_ui = window.model_ui
    icons = {window.tool_actions[t]: t.value.lower() for t in Tool} | {
        window.undo_action: "undo", window.redo_action: "redo", window.four_action: "four_view",
        window.invert_action: "invert", window.proposals_action: "marks", window.reading_action: "reading_mode",
        model_ui.next_action: "next", model_ui.retrain_action: "retrain"}
    for action, name in icons.items():
        action.setIcon(icon(name))
    tb.setIconSize(QSize(22, 22))
    tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    for action in (window.undo_action, window.redo_action, window.invert_action):
        tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonIconOnly)  # the tooltip says what
    # in a narrow window these lose their text first (the tooltip keeps it), the drawing tools last:
    # with every text the bar needs 1600 px, and what did not fit was out of reach
    return [model_ui.retrain_action, model_ui.next_action, window.reading_action,
            window.proposals_action, window.four_action, *(window.tool_actions[t] for t in reversed(Tool))]


def fit_toolbar(tb: QToolBar, short_first: list[QAction], width: int) -> None:
    """Texts beside the icons while the tool bar fits the window; icons alone, one by one, when not."""
    for action in short_first:
        tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    for action in short_first:
        tb.layout().invalidate()  # its size hint is cached until the layout is told
        if tb.sizeHint().width() <= width:
            break
        tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonIconOnly)
