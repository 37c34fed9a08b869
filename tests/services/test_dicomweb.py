"""Images from a real Orthanc PACS over DICOMweb, and SEG / SR sent back with STOW-RS.

Orthanc (with its DICOMweb plugin) is started by a fixture; instances are put into it with
Orthanc's own REST API, so the app's QIDO/WADO import and STOW export are checked against an
independent server. The SEG masks and the SR contours read back from the PACS must give the
project's own contours and region labels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient

from mammo_annotator.cli import main
from mammo_annotator.core.iom import label_regions
from mammo_annotator.core.types import GridSpec, Lesion, LesionClass, Polygon
from mammo_annotator.services import annotations as svc
from mammo_annotator.services.dicomweb import PacsError, import_dicomweb
from mammo_annotator.services.export.masks import class_mask
from mammo_annotator.services.project import open_project
from mammo_annotator.services.stow import stow_files
from mammo_annotator.services.viewing import worklist
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from tests import orthanc_server as orth
from tests.conftest import SHARED_DATASETS
from tests.services.export_helpers import write_mg_dicom
from tests.helpers import square

SEG_CODES = {"86049000": "M", "3898006": "B"}


@pytest.fixture
def basic_auth(monkeypatch):
    monkeypatch.delenv("MAMMO_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MAMMO_DICOMWEB_USER", orth.USER)
    monkeypatch.setenv("MAMMO_DICOMWEB_PASSWORD", orth.PASSWORD)


@pytest.fixture
def pacs(orthanc, tmp_path):
    """Three synthetic mammograms of two patients in the PACS (and the real J2K one when present)."""
    src = tmp_path / "src"
    src.mkdir()
    files = [write_mg_dicom(src / "a.dcm", 1, 640, 512, "L"), write_mg_dicom(src / "b.dcm", 2, 640, 512, "R"),
             write_mg_dicom(src / "c.dcm", 3, 640, 512, "L")]
    real = SHARED_DATASETS / "dicom" / "MG1_J2KI.dcm"
    if real.is_file():
        files.append(shutil.copy(real, src / "real.dcm"))
    for f in files:
        orthanc.upload(Path(f))
    return orthanc, [Path(f) for f in files]


def _client(url: str) -> DICOMwebClient:
    """A reader of the PACS for the checks (the app's connection, with the test's credentials)."""
    from mammo_annotator.services.dicomweb import connect

    return connect(url)


def _sop(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _study(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def _objects_in(client, study: str, modality: str) -> list:
    out = []
    for series in client.search_for_series(study_instance_uid=study, search_filters={"Modality": modality}):
        series_uid = series["0020000E"]["Value"][0]
        for inst in client.search_for_instances(study_instance_uid=study, series_instance_uid=series_uid):
            out.append(client.retrieve_instance(study, series_uid, inst["00080018"]["Value"][0]))
    return out


def _sr_contours(sr) -> list[tuple[str, np.ndarray]]:
    """(class, points) of every planar ROI group of a TID 1500 SR, found by walking its content."""
    found = []

    def walk(items):
        for item in items:
            children = getattr(item, "ContentSequence", [])
            scoords = [c for c in children if c.ValueType == "SCOORD"]
            findings = [c for c in children if c.ValueType == "CODE" and c.ConceptNameCodeSequence[0].CodeValue == "121071"
                        and c.ConceptCodeSequence[0].CodeValue in SEG_CODES]  # the evaluation, not "Finding: lesion"
            if scoords and findings:
                pts = np.asarray(scoords[0].GraphicData, dtype=float).reshape(-1, 2)[:-1]  # closed polyline
                found.append((SEG_CODES[findings[0].ConceptCodeSequence[0].CodeValue], pts))
            walk(children)

    walk(sr.ContentSequence)
    return found


def test_import_over_dicomweb_then_stow_seg_and_sr_round_trip(pacs, basic_auth, tmp_path, monkeypatch):
    orthanc, files = pacs
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "p.sqlite"
    project = open_project(db, create=True)
    project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
    try:
        steps: list[tuple[int, int]] = []
        report = import_dicomweb(project, orthanc.dicomweb, modality="MG", progress=lambda d, t, m: steps.append((d, t)))
        assert report.failed == [] and len(report.imported) == 3  # the synthetic MG ones
        assert steps[-1] == (3, 3)
        again = import_dicomweb(project, orthanc.dicomweb, modality=None)  # every modality
        assert again.failed == [] and len(again.duplicates) == 3  # nothing retrieved twice
        assert len(again.imported) == len(files) - 3  # the real film scan (modality RG, JPEG 2000) when present

        with project.session() as s:
            by_sop = image_store.image_ids_by_sop_uid(s, [_sop(f) for f in files])
        synthetic = [by_sop[_sop(f)] for f in files[:3]]
        for k, image_id in enumerate(synthetic):
            svc.save_contour(project, image_id, square(100 + 20 * k, 120, 150), annotator="dr.a")
            svc.save_contour(project, image_id, [[350, 300], [460, 330], [420, 470], [330, 420]], annotator="dr.b",
                             cls=LesionClass.BENIGN)
    finally:
        project.close()

    # back to the PACS with the CLI, filed with the source study (--keep-ids)
    for kind in ("seg", "sr"):
        assert main(["export", "--db", str(db), kind, "--stow", orthanc.dicomweb, "--keep-ids"]) == 0

    client = _client(orthanc.dicomweb)
    project = open_project(db)
    try:
        for path, image_id in zip(files[:3], synthetic):
            anns = svc.contours(project, image_id)
            with project.session() as s:
                image = image_store.get_image(s, image_id)
                grid_id = region_store.grid_id_for(s, image_id)
                regions = region_store.regions_of(s, grid_id)
                stored = region_store.region_set(s, grid_id)
            (seg_ds,) = _objects_in(client, _study(path), "SEG")
            seg = hd.seg.Segmentation.from_dataset(seg_ds)
            assert seg.get_source_image_uids()[0][2] == image.sop_instance_uid
            for number in seg.get_segment_numbers():
                desc = seg.get_segment_description(number)
                cls = SEG_CODES[desc.segmented_property_type.value]
                mask = seg.get_pixels_by_source_instance([image.sop_instance_uid], segment_numbers=[number])[0, :, :, 0]
                assert np.array_equal(mask.astype(bool), class_mask(anns, cls, image.height, image.width))

            reports = _objects_in(client, _study(path), "SR")  # one per annotator of the image
            assert len(reports) == len({a.annotator for a in anns})
            contours = [c for sr_ds in reports for c in _sr_contours(sr_ds)]
            assert sorted(c for c, _ in contours) == sorted(a.cls.value for a in anns)
            for ann in anns:
                match = [p for c, p in contours if c == ann.cls.value]
                assert np.allclose(match[0], ann.polygon.as_array(), atol=1e-3)
            lesions = [Lesion(LesionClass(c), Polygon.from_array(p)) for c, p in contours]
            relabelled = label_regions(regions, lesions, project.alpha())
            assert [r.label.value for r in relabelled] == stored.labels  # region labels round-trip
    finally:
        project.close()


def test_pseudonymised_stow_makes_a_separate_study(pacs, basic_auth, tmp_path, monkeypatch):
    orthanc, files = pacs
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "p.sqlite"
    assert main(["import-dicomweb", orthanc.dicomweb, "--db", str(db), "--study", _study(files[0])]) == 0
    project = open_project(db)
    try:
        (image,) = worklist(project)
        svc.save_contour(project, image.image_id, square(100, 100, 150), annotator="dr.a")
    finally:
        project.close()
    out = tmp_path / "seg"
    assert main(["export", "--db", str(db), "seg", "--out", str(out), "--stow", orthanc.dicomweb]) == 0
    assert len(list(out.glob("*_seg.dcm"))) == 1
    client = _client(orthanc.dicomweb)
    assert _objects_in(client, _study(files[0]), "SEG") == []  # not filed with the real study
    studies = [s["0020000D"]["Value"][0] for s in client.search_for_studies(search_filters={"ModalitiesInStudy": "SEG"})]
    assert len(studies) == 1 and studies[0] != _study(files[0])
    (seg,) = _objects_in(client, studies[0], "SEG")
    assert seg.PatientID != "MRN-88131" and "Doeperson" not in str(seg.PatientName)


def test_study_filter_bearer_token_and_refused_credentials(pacs, tmp_path, monkeypatch):
    orthanc, files = pacs
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MAMMO_DICOMWEB_USER", raising=False)
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        monkeypatch.setenv("MAMMO_DICOMWEB_TOKEN", "not-the-token")
        with pytest.raises(PacsError, match="HTTP 403"):
            import_dicomweb(project, orthanc.dicomweb)
        monkeypatch.setenv("MAMMO_DICOMWEB_TOKEN", orth.TOKEN)
        report = import_dicomweb(project, orthanc.dicomweb, studies=[_study(files[1])])
        assert len(report.imported) == 1 and report.failed == []
        assert import_dicomweb(project, orthanc.dicomweb, modality="CT").imported == []  # no CT series
        report = import_dicomweb(project, orthanc.dicomweb, since="2100-01-01")
        assert report.imported == [] and report.duplicates == []  # no study that recent
        with pytest.raises(PacsError, match="cannot reach the PACS"):
            import_dicomweb(project, "http://127.0.0.1:1/dicom-web")
    finally:
        project.close()


def test_cancel_keeps_what_was_imported(pacs, basic_auth, tmp_path, monkeypatch):
    import threading

    orthanc, files = pacs
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project = open_project(tmp_path / "p.sqlite", create=True)
    cancel = threading.Event()

    def progress(done, total, message):
        if done == 1 and total:
            cancel.set()

    try:
        report = import_dicomweb(project, orthanc.dicomweb, progress=progress, cancel=cancel)
        assert report.cancelled and len(report.imported) == 1
    finally:
        project.close()


def test_stow_reports_an_unreadable_file_and_sends_the_rest(orthanc, basic_auth, tmp_path):
    good = write_mg_dicom(tmp_path / "good.dcm", 5)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom at all")
    report = stow_files(orthanc.dicomweb, [bad, good])
    assert report.stored == [_sop(good)]
    assert report.failed[0][0] == str(bad) and "not a DICOM file" in report.failed[0][1]


def test_a_broken_instance_is_reported_and_the_others_imported(orthanc, basic_auth, tmp_path, monkeypatch):
    import pydicom

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    good = write_mg_dicom(tmp_path / "good.dcm", 6, 640, 512)
    broken = write_mg_dicom(tmp_path / "broken.dcm", 7, 640, 512)
    ds = pydicom.dcmread(broken)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # the PACS stores it; decoding must refuse it
    ds.save_as(broken, enforce_file_format=True)
    orthanc.upload(good)
    orthanc.upload(broken)
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        report = import_dicomweb(project, orthanc.dicomweb)
        assert len(report.imported) == 1
        (failed_path, reason), = report.failed
        assert _sop(broken).replace(".", "") in failed_path.replace(".", "") and "truncated" in reason
    finally:
        project.close()


@pytest.fixture
def orthanc_tls(orthanc, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed (it makes the test's certificate)")
    front = orth.TlsFront(orthanc, tmp_path)
    yield front
    front.close()


def test_tls_is_verified_and_a_site_ca_is_accepted(orthanc_tls, basic_auth, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MAMMO_DICOMWEB_CA_BUNDLE", raising=False)
    orthanc_tls.orthanc.upload(write_mg_dicom(tmp_path / "a.dcm", 8, 640, 512))
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        with pytest.raises(PacsError, match="TLS certificate not trusted"):
            import_dicomweb(project, orthanc_tls.dicomweb)  # self-signed: refused by default
        monkeypatch.setenv("MAMMO_DICOMWEB_CA_BUNDLE", str(orthanc_tls.cert))
        assert len(import_dicomweb(project, orthanc_tls.dicomweb).imported) == 1
    finally:
        project.close()
