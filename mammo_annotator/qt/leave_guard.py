"""Leaving a project (closing the window, opening another) while an edit waits for its server.

On a server project an edit the server has not answered runs on in a thread (``ServerCall``);
the window closed over it without a word, and the process then ended with the thread: the
reader believed a contour saved that never reached the database. Now the reader is asked, and
keeping the window open is the default.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from .undo import AnnotationEditor

KEEP = "Keep the window open"
LEAVE = {"close": "Close anyway", "open": "Open anyway"}


def waiting_text(editor: AnnotationEditor, action: str) -> str:
    images = ", ".join(str(i) for i in sorted(editor.pending))
    what = "Closing the window" if action == "close" else "Opening another project"
    return (f"The last edit of image {images} is still waiting for the database server ({editor.project.location}).\n\n"
            f"{what} now may lose it: the server has not said whether it is saved. Keep the window open until "
            "the status bar says it is saved, or go on without it (check that image when the server is back).")


def may_leave(parent: QWidget, editor: AnnotationEditor, action: str = "close") -> bool:
    """True when no edit waits, or the reader chose to go on without the waiting ones.
    ``action``: "close" (the window) or "open" (another project).

    An answer that comes while the question is on screen takes it away: saved, and nothing else
    waiting, the window goes on as first asked; not saved, the window stays, to show why."""
    if not editor.pending:
        return True
    box = QMessageBox(QMessageBox.Warning, "Edits waiting for the database server", waiting_text(editor, action),
                      QMessageBox.NoButton, parent)
    keep = box.addButton(KEEP, QMessageBox.RejectRole)
    leave = box.addButton(LEAVE[action], QMessageBox.DestructiveRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    settled: list[bool] = []

    def answered(_image_id: int) -> None:
        saved = editor.last_failure is None
        if not saved or not editor.pending:
            settled.append(saved)
            box.done(0)

    editor.answered.connect(answered)
    try:
        box.exec()
    finally:
        editor.answered.disconnect(answered)
    if settled:
        return settled[-1]
    return box.clickedButton() is leave
