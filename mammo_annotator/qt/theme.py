"""Colours and the dark style sheet. Overlay colours come from the Okabe-Ito palette, which
stays distinguishable for the common colour-vision deficiencies."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

def _resources() -> Path:
    """Where the icons and the style sheet are: the installed package ``mammo_annotator.resources``
    (a wheel, or an editable install made with setup.py's mapping), else the source tree's
    top-level ``resources/`` (an editable install made before that mapping existed)."""
    try:
        from importlib.resources import files

        path = Path(str(files("mammo_annotator.resources")))
        if (path / "style.qss").is_file():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "resources"


RESOURCES = _resources()

# Okabe-Ito
VERMILLION = "#D55E00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
ORANGE = "#E69F00"
PURPLE = "#CC79A7"

PROPOSAL_COLOURS = {"M": VERMILLION, "B": SKY_BLUE}
CONTOUR_COLOURS = {"M": YELLOW, "B": BLUISH_GREEN}
REGION_COLOURS = {"M": VERMILLION, "BN": BLUE, "ignored": "#A0A0A0"}
VIEW_BACKGROUND = "#000000"


DATE_FORMAT = "%Y-%m-%d %H:%M"  # the one date format of the app


def local_time(when: datetime | None) -> str:
    """A stored time (UTC; naive from SQLite) in the reader's time zone, in the app's one format."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone().strftime(DATE_FORMAT)


def icon(name: str):
    """A tool icon from ``resources/icons`` (simple SVGs drawn for this app)."""
    from PySide6.QtGui import QIcon

    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def style_sheet() -> str:
    path = RESOURCES / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def apply_theme(app: QApplication) -> None:
    """Fusion + a dark palette (for native bits the style sheet misses) + the style sheet."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.Window, "#1c1d20"), (QPalette.WindowText, "#d6d7da"), (QPalette.Base, "#1a1b1e"),
        (QPalette.AlternateBase, "#1f2024"), (QPalette.Text, "#d6d7da"), (QPalette.Button, "#2a2d32"),
        (QPalette.ButtonText, "#d6d7da"), (QPalette.Highlight, "#23435a"), (QPalette.HighlightedText, "#ffffff"),
        (QPalette.ToolTipBase, "#2b2d31"), (QPalette.ToolTipText, "#e8e8e8"), (QPalette.PlaceholderText, "#6b6e74"),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    app.setStyleSheet(style_sheet())
