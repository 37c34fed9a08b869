"""A PACS image on a machine without its file: retrieved again over WADO-RS, verified, cached.

"Another machine" is simulated the way it differs from the importing one: the folder the import
wrote the instances to is gone and the user cache folder (``MAMMO_ANNOTATOR_CACHE``) is a fresh,
empty one. The PACS is a real Orthanc; the errors come from it too (instance deleted, instance
replaced by a different one under the same UIDs, server stopped).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mammo_annotator.cli import main
from mammo_annotator.core.imageio import content_sha256, read_image
from mammo_annotator.core.types import GridSpec
from mammo_annotator.services import viewing
from mammo_annotator.services.dicomweb import import_dicomweb, public_url
from mammo_annotator.services.pacs_fetch import PacsFetchError, cache_dir, cached_path, fetch_missing
from mammo_annotator.services.pixels import load_pixels
from mammo_annotator.services.project import open_project
from mammo_annotator.store.schema import PacsInstanceRow
from tests import orthanc_server as orth
from tests.services.export_helpers import write_mg_dicom


@pytest.fixture
def basic_auth(monkeypatch):
    monkeypatch.delenv("MAMMO_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MAMMO_DICOMWEB_USER", orth.USER)
    monkeypatch.setenv("MAMMO_DICOMWEB_PASSWORD", orth.PASSWORD)


def _machine(monkeypatch, folder: Path) -> Path:
    """Switch to another machine's user cache (pixel cache, side folders, PACS copies)."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(folder))
    return folder


def _import_on_machine_a(monkeypatch, tmp_path, target: str, url: str) -> tuple[str, Path]:
    _machine(monkeypatch, tmp_path / "machine-a-cache")
    store = tmp_path / "machine-a-store"
    project = open_project(target, create=True)
    try:
        project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
        report = import_dicomweb(project, url, store=store)
        assert report.failed == [] and report.imported
    finally:
        project.close()
    return target, store


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _only_image(project):
    (row,) = viewing.worklist(project)
    return viewing.image_record(project, row.image_id)


def test_another_machine_retrieves_the_image_it_lacks(orthanc, basic_auth, project_target, tmp_path, monkeypatch, capsys):
    src = write_mg_dicom(tmp_path / "a.dcm", 1, 640, 512, "L")
    orthanc.upload(src)
    target, store = _import_on_machine_a(monkeypatch, tmp_path, project_target, orthanc.dicomweb + "/")
    shutil.rmtree(store)  # machine B never had the importing machine's folder

    b_cache = _machine(monkeypatch, tmp_path / "machine-b-cache")
    monkeypatch.delenv("MAMMO_DICOMWEB_USER")  # machine B's own credentials: a bearer token
    monkeypatch.setenv("MAMMO_DICOMWEB_TOKEN", orth.TOKEN)
    project = open_project(target)
    try:
        record = _only_image(project)
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        assert record.pacs is not None and record.pacs.url == orthanc.dicomweb  # no trailing slash, no credentials
        assert (record.pacs.study_uid, record.pacs.series_uid, record.pacs.sop_uid) == (
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert not Path(record.source_path).exists()

        bundle = viewing.load_bundle(project, record.id)  # what the viewer opens
        pixels = load_pixels(bundle.record)
        assert np.array_equal(np.asarray(pixels), read_image(src).pixels)
        copy = cached_path(record)
        assert copy.is_relative_to(b_cache) and content_sha256(copy) == record.sha256
        assert [p.name for p in _files_under(cache_dir())] == [copy.name]  # no temporary file left

        # a damaged copy is noticed by its hash and retrieved again
        copy.write_bytes(b"damaged")
        shutil.rmtree(b_cache / "pixels")
        assert np.array_equal(np.asarray(load_pixels(record)), read_image(src).pixels)
        assert content_sha256(copy) == record.sha256

        # the SEG export reads the source header through the same copy
        out = tmp_path / "seg"
        from mammo_annotator.services import annotations as svc

        svc.save_contour(project, record.id, [[100, 100], [200, 100], [200, 200], [100, 200]], annotator="dr.b")
    finally:
        project.close()
    assert main(["export", "--db", target, "seg", "--out", str(out), "--keep-ids"]) == 0
    capsys.readouterr()
    _machine(monkeypatch, tmp_path / "machine-c-cache")  # a third machine fetches ahead, from the CLI
    assert main(["fetch-pacs", "--db", target]) == 0
    assert "1 retrieved, 0 already here, 0 failed" in capsys.readouterr().out
    assert main(["fetch-pacs", "--db", target]) == 0
    assert "0 retrieved, 1 already here, 0 failed" in capsys.readouterr().out
    (seg,) = out.glob("*_seg.dcm")
    assert pydicom.dcmread(seg).StudyInstanceUID == ds.StudyInstanceUID


def test_a_deleted_or_changed_instance_is_refused_with_the_reason(orthanc, basic_auth, tmp_path, monkeypatch, capsys):
    src = write_mg_dicom(tmp_path / "a.dcm", 2, 640, 512, "R")
    orthanc_id = orthanc.upload(src)["ID"]
    db, store = _import_on_machine_a(monkeypatch, tmp_path, str(tmp_path / "p.sqlite"), orthanc.dicomweb)
    shutil.rmtree(store)
    _machine(monkeypatch, tmp_path / "machine-b-cache")
    project = open_project(db)
    try:
        record = _only_image(project)
        name = f"image {record.id} ({record.display_name})"

        orthanc.rest("DELETE", f"/instances/{orthanc_id}")  # the PACS no longer holds it
        with pytest.raises(PacsFetchError, match="no longer holds the instance") as err:
            load_pixels(record)
        assert str(err.value).startswith(name) and record.pacs.sop_uid in str(err.value)
        assert _files_under(cache_dir()) == []

        changed = pydicom.dcmread(src)  # same UIDs, other pixels: not the image that was annotated
        arr = changed.pixel_array.copy()
        arr[:10] = 0
        changed.PixelData = arr.tobytes()
        changed.save_as(tmp_path / "changed.dcm", enforce_file_format=True)
        orthanc.upload(tmp_path / "changed.dcm")
        with pytest.raises(PacsFetchError, match="is not the imported file .*refused") as err:
            load_pixels(record)
        assert str(err.value).startswith(name) and record.sha256[:16] in str(err.value)
        assert _files_under(cache_dir()) == []
    finally:
        project.close()

    # the CLI names the image and the reason, and says it failed
    assert main(["fetch-pacs", "--db", db]) == 1
    out = capsys.readouterr().out
    assert "0 retrieved, 0 already here, 1 failed" in out and f"FAILED  {name}: " in out and "refused" in out


def test_a_stopped_pacs_is_reported_and_nothing_is_kept(basic_auth, tmp_path, monkeypatch, capsys):
    """Its own Orthanc, so stopping it leaves the session's server to the other tests."""
    if not (orth.find_orthanc() and orth.find_dicomweb_plugin()):
        pytest.skip("Orthanc or its DICOMweb plugin not installed (Debian packages orthanc, orthanc-dicomweb)")
    server = orth.start()
    try:
        server.upload(write_mg_dicom(tmp_path / "a.dcm", 3, 640, 512, "L"))
        db, store = _import_on_machine_a(monkeypatch, tmp_path, str(tmp_path / "p.sqlite"), server.dicomweb)
        shutil.move(store, tmp_path / "moved")  # the instances moved away: the stored path is gone here too
    finally:
        orth.stop(server)
    _machine(monkeypatch, tmp_path / "machine-b-cache")
    project = open_project(db)
    try:
        record = _only_image(project)
        with pytest.raises(PacsFetchError, match="cannot reach the PACS") as err:
            load_pixels(record)
        assert str(err.value).startswith(f"image {record.id} (") and server.dicomweb in str(err.value)
        assert _files_under(cache_dir()) == []
        report = fetch_missing(project)
        assert report.fetched == [] and [i for i, _ in report.failed] == [record.id]
    finally:
        project.close()
    assert main(["fetch-pacs", "--db", db]) == 1
    assert "cannot reach the PACS" in capsys.readouterr().out


def test_a_later_import_records_the_origin_of_instances_imported_before(orthanc, basic_auth, tmp_path, monkeypatch):
    orthanc.upload(write_mg_dicom(tmp_path / "a.dcm", 4, 640, 512, "L"))
    db, _ = _import_on_machine_a(monkeypatch, tmp_path, str(tmp_path / "p.sqlite"), orthanc.dicomweb)
    project = open_project(db)
    try:
        with project.session() as s:  # as a project imported before origins were recorded
            s.query(PacsInstanceRow).delete()
        assert _only_image(project).pacs is None
        report = import_dicomweb(project, orthanc.dicomweb)
        assert report.imported == [] and len(report.duplicates) == 1
        assert _only_image(project).pacs.url == orthanc.dicomweb
    finally:
        project.close()


def test_an_image_not_from_a_pacs_still_says_its_file_disappeared(tmp_path, monkeypatch):
    from mammo_annotator.services.importing import ImportItem, import_items

    _machine(monkeypatch, tmp_path / "cache")
    src = write_mg_dicom(tmp_path / "a.dcm", 5, 640, 512, "L")
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
        import_items(project, [ImportItem(path=src)])
        record = _only_image(project)
        assert record.pacs is None
        src.unlink()
        shutil.rmtree(tmp_path / "cache" / "pixels")
        with pytest.raises(Exception, match="disappeared"):
            load_pixels(record)
        report = fetch_missing(project, [record.id, 999])
        assert [m for _, m in report.failed] == ["image 999: not in the project",
                                                 f"image {record.id} ({record.display_name}): its file ({record.source_path}) "
                                                 "is not on this machine and it was not imported from a PACS"]
    finally:
        project.close()


@pytest.mark.parametrize("url, public", [
    ("https://user:secret@pacs.example:8443/dicom-web/?access_token=x#frag", "https://pacs.example:8443/dicom-web"),
    ("http://127.0.0.1:8042/dicom-web", "http://127.0.0.1:8042/dicom-web"),
    ("https://[::1]/wado/rs/", "https://[::1]/wado/rs"),
])
def test_the_recorded_url_holds_no_credentials(url, public):
    assert public_url(url) == public
