"""The main window's status bar: the tool, the annotator and the pixel under the cursor at the
left, the database at the right; messages (errors of a refresh, agreement between annotators)
show over them for a while."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar


def add_status_labels(bar: QStatusBar) -> tuple[QLabel, QLabel, QLabel, QLabel]:
    """The permanent labels: tool, annotator, cursor, database (it takes the spare width)."""
    tool = QLabel("Tool: Navigate")
    annotator = QLabel()
    cursor = QLabel("")
    cursor.setMinimumWidth(230)  # the numbers change under the mouse: the bar must not jump
    database = QLabel()
    for w in (tool, annotator, cursor):
        bar.addPermanentWidget(w)
    bar.addPermanentWidget(database, 1)
    database.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
    return tool, annotator, cursor, database


def cursor_text(x: float, y: float, value) -> str:
    """The image pixel under the cursor and its value; empty off the image."""
    return f"x {x:7.1f}  y {y:7.1f}   value {value}" if value is not None else ""
