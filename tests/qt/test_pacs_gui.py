"""The viewer on a machine without a PACS image's file: it is retrieved and shown, or the reason
it cannot be is shown in a message (the window stays usable). Against a real Orthanc."""

from __future__ import annotations

import shutil

import numpy as np
from PySide6.QtWidgets import QMessageBox

from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.types import GridSpec
from mammo_annotator.services import viewing
from mammo_annotator.services.dicomweb import import_dicomweb
from mammo_annotator.services.project import open_project
from tests import orthanc_server as orth
from tests.services.export_helpers import write_mg_dicom


def _messages(window) -> list[str]:
    return [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_viewer_retrieves_a_missing_pacs_image_or_says_why(orthanc, qtbot, tmp_path, monkeypatch):
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow

    monkeypatch.delenv("MAMMO_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MAMMO_DICOMWEB_USER", orth.USER)
    monkeypatch.setenv("MAMMO_DICOMWEB_PASSWORD", orth.PASSWORD)
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "machine-a-cache"))
    src = write_mg_dicom(tmp_path / "a.dcm", 1, 640, 512, "L")
    upload = orthanc.upload(src)
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
    (image_id,) = import_dicomweb(project, orthanc.dicomweb, store=tmp_path / "store").imported
    project.close()
    shutil.rmtree(tmp_path / "store")
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "machine-b-cache"))  # another machine
    orthanc.rest("DELETE", f"/instances/{upload['ID']}")

    project = open_project(tmp_path / "p.sqlite")
    ensure_app()
    w = MainWindow(project, "tester", temp_settings())
    qtbot.addWidget(w)
    w.show()
    try:
        w.worklist.select_image(image_id)
        name = f"image {image_id} ({viewing.image_record(project, image_id).display_name})"
        qtbot.waitUntil(lambda: any(name in t and "no longer holds the instance" in t for t in _messages(w)))
        assert w.page.image_id is None and w.page.view.pixels is None
        for box in w.findChildren(QMessageBox):
            box.close()

        orthanc.upload(src)  # back on the PACS: the next open retrieves it
        w.page.open_image(image_id)
        assert w.page.image_id == image_id
        assert np.array_equal(np.asarray(w.page.view.pixels), read_image(src).pixels)
    finally:
        assert w.importer.shutdown()
        w.close()
        project.close()
