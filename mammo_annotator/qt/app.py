"""Entry points for the CLI: ``run_gui`` (the desktop app) and ``render_screenshot`` (headless).

Start-up opens, in order: the database given, the last project (QSettings), or a copy of the
embedded example in the user data folder (the example itself is never modified).
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import sys
import tempfile
from pathlib import Path

ORG, APP = "mammo-annotator", "Mammo Annotator"


def ensure_app():
    """The QApplication, created once, with pyqtgraph's options and the dark theme."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .platform_check import check_or_exit

    check_or_exit()  # e.g. libxcb-cursor0 missing: one line saying how to install it, not a Qt abort
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .theme import apply_theme

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName(ORG)
        app.setApplicationName(APP)
        apply_theme(app)
    return app


def default_project_path() -> Path:
    """Where the copy of the example project lives (user data folder)."""
    from platformdirs import user_data_dir

    root = os.environ.get("MAMMO_ANNOTATOR_DATA") or user_data_dir("mammo-annotator", appauthor=False)
    return Path(root) / "example-project.sqlite"


def ask_restore(parent, exc) -> bool:
    """Offer the last good backup of a damaged project (issue 12: never lose a project)."""
    from PySide6.QtWidgets import QMessageBox

    answer = QMessageBox.question(parent, APP, f"{exc}\n\nRestore that backup now? The damaged file is kept beside it.",
                                  QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
    return answer == QMessageBox.Yes


def _start_project(db_path: str | None, settings, restore=None):
    """The project to open first and a note for the user (opened read-only, restored), or (None, reason).

    This instance takes the project's lock; when another instance holds it, the project opens
    read-only. A damaged project is never passed over for the example: it is refused with its
    reason, after ``restore(error)`` was offered its last good backup.
    """
    from ..core.errors import MammoError
    from ..services.project import copy_example
    from ..services.project_guard import open_guarded
    from ..store.backup import DamagedDatabase

    candidates: list[tuple[str, bool]] = []
    if db_path:
        candidates.append((db_path, False))
    else:
        last = settings.value("last_project", "")
        if last and ("://" in str(last) or Path(str(last)).is_file()):  # a file, or a server project's URL
            candidates.append((str(last), False))
    reasons = []
    for path, create in candidates:
        try:
            return open_guarded(path, create=create, ask_restore=restore)
        except DamagedDatabase as exc:
            return None, str(exc)
        except MammoError as exc:
            reasons.append(str(exc))
    if db_path:
        return None, "; ".join(reasons)
    try:
        dest = copy_example(default_project_path())
        return open_guarded(dest, ask_restore=restore)
    except DamagedDatabase as exc:
        return None, str(exc)
    except MammoError as exc:  # no example shipped: start an empty project instead
        try:
            return open_guarded(default_project_path().with_name("project.sqlite"), create=True, ask_restore=restore)
        except MammoError as exc2:
            return None, f"{exc}; {exc2}"


def run_gui(db_path: str | None, annotator: str | None = None) -> int:
    """Run the desktop app until the window closes; returns the exit status."""
    app = ensure_app()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from .dialogs import ask_annotator
    from .main_window import MainWindow

    settings = QSettings(ORG, APP)
    project, note = _start_project(db_path, settings, restore=lambda exc: ask_restore(None, exc))
    if project is None:
        QMessageBox.critical(None, APP, f"Cannot open the project.\n\n{note}")
        return 1
    settings.setValue("last_project", project.target)
    name = annotator or str(settings.value("annotator", "") or "")
    if not name:
        name = ask_annotator(None) or getpass.getuser()
        settings.setValue("annotator", name)
    window = MainWindow(project, name, settings)
    if settings.value("geometry") is not None:
        window.restoreGeometry(settings.value("geometry"))
    window.show()
    if note:  # opened read-only (another instance holds it) or restored from a backup
        window.statusBar().showMessage(note)
        QMessageBox.information(window, APP, note)
    return int(app.exec())


def render_screenshot(db_path: str | None, out_png: str | os.PathLike) -> None:
    """Open the project headless, show the first image with its overlays, save a PNG."""
    from .screens import build_window, grab

    ensure_app()
    window = build_window(db_path)
    try:
        grab(window, Path(out_png))
    finally:
        close_window(window)


def close_window(window) -> None:
    from PySide6.QtWidgets import QApplication

    window.close()
    window.project.close()
    QApplication.processEvents()


def temp_settings():
    """Settings in a throwaway file: screenshots and tests never touch the user's settings."""
    from PySide6.QtCore import QSettings

    folder = tempfile.mkdtemp(prefix="mammo-settings-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # every screenshot and test run left one behind
    return QSettings(str(Path(folder) / "settings.ini"), QSettings.IniFormat)
