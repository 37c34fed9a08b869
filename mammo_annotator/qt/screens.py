"""Headless rendering of the main window's states (README screenshot, scripts/screenshots.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication


def settle(ms: int = 50) -> None:
    """Let layouts, range updates and image renders happen before grabbing."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    QApplication.processEvents()


def build_window(db_path: str | None, size: tuple[int, int] = (1600, 1000), annotator: str = "screenshot"):
    """A main window over ``db_path`` (or the example copy) with throwaway settings."""
    from ..services.project import open_project
    from .app import _start_project, temp_settings
    from .main_window import MainWindow

    settings = temp_settings()
    if db_path:
        project = open_project(db_path)
    else:
        project, reason = _start_project(None, settings)
        if project is None:
            raise RuntimeError(reason)
    window = MainWindow(project, annotator, settings)
    window.resize(*size)
    window.show()
    settle(100)
    window.page.view.fit()
    settle(50)
    return window


def grab(widget, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    settle(50)
    widget.grab().save(str(out))
    return out
