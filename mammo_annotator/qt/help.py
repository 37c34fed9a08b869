"""The Help menu's pages: the keyboard shortcuts (generated from the window's actions, so the
sheet cannot drift from the app), how to annotate (in a reader's words), and About (versions,
the project and the model in use)."""

from __future__ import annotations

import html
import platform
from importlib.metadata import PackageNotFoundError, version

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenuBar, QTextBrowser, QVBoxLayout, QWidget

HOW_TO = """
<h2>How to annotate</h2>
<p>You read each mammogram as usual. The software learns from two kinds of information:</p>
<ul>
<li><b>The image label</b> (from the report or the dataset): <b>M</b> malignant, <b>B</b> benign,
<b>N</b> normal. Every image has one; it says <i>whether</i> there is a finding, not where.</li>
<li><b>Your outlines</b>: draw around each <b>malignant</b> lesion (Polygon <b>P</b>, Freehand <b>F</b>
or Ellipse <b>O</b>). The class is Malignant by default on every new image; press <b>2</b> only for a
benign lesion you want to record.</li>
</ul>
<p><b>Outline every malignant finding of an image you annotate.</b> The software divides the image
into small overlapping squares ("windows"). A window mostly inside a malignant outline is taught as
<i>malignant</i>; a window that touches no malignant outline is taught as <i>benign or normal</i>;
windows partly inside are left out. So a lesion you did not outline would be taught as normal tissue.
The Region labels overlay (<b>L</b>) shows these windows.</p>
<p>If an image has nothing malignant to outline, press <b>N</b> ("Confirm: no malignant finding"):
all its windows are then taught as benign or normal.</p>
<h3>The marks</h3>
<p>Boxes labelled M1, M2 ... are regions the current model finds suspicious for malignancy (B1 ... for
benign), most suspicious first. They appear only when the model's probability for the whole image
reaches a threshold, by default the one at which it finds 85% of the validation images with that
finding. The number on a mark is its region score: higher is more suspicious. They are suggestions
to check, never a diagnosis. <b>M</b> shows a colour map of the probability instead.</p>
<h3>Retraining</h3>
<p>After a few newly annotated images the model retrains by itself in the background (Model &gt;
Retrain now does it at once). A new version replaces the active one only if it does at least as well
on a fixed group of validation patients; Model history lists every version with the numbers that
compare. You can keep annotating while it trains.</p>
<h3>Moving on</h3>
<p><b>Shift+N</b> opens the next suggested image; with "Auto-advance" ticked, confirming
"no malignant finding" or finishing a malignant outline does it for you. <b>F11</b> shows only the
image (or the four views, <b>H</b>); F11 or Esc returns.</p>
"""


def shortcut_rows(menubar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action with a shortcut, in menu order."""
    rows = []
    for menu_action in menubar.actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        title = menu.title().replace("&", "")
        stack = [(title, a) for a in menu.actions()]
        while stack:
            where, a = stack.pop(0)
            if a.menu() is not None:
                stack[:0] = [(f"{where} › {a.menu().title().replace('&', '')}", b) for b in a.menu().actions()]
                continue
            keys = ", ".join(s.toString() for s in a.shortcuts())
            if keys and not a.isSeparator():
                rows.append((where, a.text().replace("&", ""), keys))
    return rows


def shortcut_html(menubar: QMenuBar) -> str:
    parts = ["<h2>Keyboard shortcuts</h2>", "<p>Right-drag on the image changes the window (width across, level "
             "up/down); the wheel zooms; a left-drag pans with Navigate (V).</p>", "<table cellspacing='0' cellpadding='3'>"]
    last = None
    for menu, text, keys in shortcut_rows(menubar):
        if menu != last:
            parts.append(f"<tr><td colspan='2'><br><b>{html.escape(menu)}</b></td></tr>")
            last = menu
        parts.append(f"<tr><td style='padding-right:24px'>{html.escape(text)}</td>"
                     f"<td><code>{html.escape(keys)}</code></td></tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def about_html(project=None, model=None) -> str:
    """Versions and what is open; torch's version is read from its metadata (no import)."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    rows = [("Mammo Annotator", _version("mammo-annotator")), ("Python", platform.python_version()),
            ("Qt / PySide6", f"{qVersion()} / {pyside_version}"), ("pyqtgraph", _version("pyqtgraph")),
            ("PyTorch", _version("torch")), ("pydicom", _version("pydicom")), ("SQLAlchemy", _version("SQLAlchemy"))]
    if project is not None:
        rows.append(("Project", str(project.path)))
    if model is not None:
        rows.append(("Model in use", f"v{model.id} {model.name} ({model.state}), features {model.extractor_key}"))
    else:
        rows.append(("Model in use", "none yet"))
    table = "".join(f"<tr><td style='padding-right:18px'><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return ("<h2>Mammo Annotator</h2><p>Annotate malignant lesions on mammograms while a weakly and "
            "semi-supervised dual-branch model proposes regions (Bakalo, Goldberger and Ben-Ari, "
            "Neurocomputing 2021). For research use; not a medical device.</p>"
            f"<table>{table}</table>")


class HelpDialog(QDialog):
    """A titled page of rich text with a Close button (non-modal: the reader can keep working)."""

    def __init__(self, title: str, body: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Mammo Annotator — {title}")
        self.resize(640, 620)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(body)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
