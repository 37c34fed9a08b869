"""Builders for the export tests: synthetic MG DICOMs full of PHI and a small annotated project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from mammo_annotator.core.imageio import content_sha256, read_image
from mammo_annotator.core.regions import region_grid
from mammo_annotator.core.types import LesionClass, WeakLabel
from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services.project import Project
from mammo_annotator.store import images as image_store
from mammo_annotator.store import models as model_store
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square

MG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - For Presentation


def phi(n: int) -> dict[str, str]:
    """Identifying values of synthetic patient ``n``: every one must stay out of pseudonymised exports."""
    return {
        "PatientName": f"Doeperson^Janine{n}", "PatientID": f"MRN-88{n}31", "PatientBirthDate": f"1961020{n}",
        "InstitutionName": f"Saint Elsewhere Clinic {n}", "InstitutionAddress": f"{n} Harbour Road, Springfield",
        "ReferringPhysicianName": f"Housemann^Gregor{n}", "PerformingPhysicianName": f"Quincyfield^Ada{n}",
        "OperatorsName": f"Radtech^Olga{n}", "AccessionNumber": f"ACC77{n}19", "StudyID": f"STUDY9{n}3",
        "StudyDate": f"2019031{n}", "OtherPatientIDs": f"OTHER-ID-4{n}2", "StudyDescription": f"Screening of Janine{n}",
    }


def write_mg_dicom(path: Path, n: int, rows: int = 320, cols: int = 256, laterality: str = "L") -> Path:
    """A small uncompressed MG image whose header carries PHI and a private tag."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MG_SOP_CLASS
    ds.SOPClassUID = MG_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    for key, value in phi(n).items():
        setattr(ds, key, value)
    ds.PatientSex, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "F", "MG", 1, 1
    ds.ImageLaterality, ds.ViewPosition, ds.PatientOrientation = laterality, "CC", ["A", "R"]
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.private_block(0x0011, "ACME HOSPITAL", create=True).add_new(0x01, "LO", f"private-note-{n}")
    pixels = np.random.default_rng(n).integers(200, 3000, (rows, cols)).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def add_dicom_image(project: Project, path: Path, weak: WeakLabel = WeakLabel(1, 0)) -> int:
    """Insert a DICOM file as the importer would (full-frame mask instead of the breast mask)."""
    meta = read_image(path).meta
    spec = project.grid_spec()
    regions = region_grid(np.ones((meta.height, meta.width), dtype=bool), spec, meta.mean_spacing_mm)
    with project.session() as s:
        image_id = image_store.add_image(s, meta, content_sha256(path), meta.patient_id, meta.study_uid, weak)
        region_store.add_grid(s, image_id, spec, meta.mean_spacing_mm, regions)
    return image_id


def build_project(project: Project, dicom_dir: Path | None = None) -> dict[str, int]:
    """Blank images with malignant and benign contours, a confirmed-negative image, an
    unannotated one, and (with ``dicom_dir``) two DICOM images with contours."""
    project.set_grid_spec(type(project.grid_spec())(size_px=64, stride_px=32))
    ids = {
        "mb": add_blank_image(project, "P1", size=(320, 256), laterality="L", view="CC"),
        "m": add_blank_image(project, "P1", size=(320, 256), laterality="R", view="MLO"),
        "neg": add_blank_image(project, "P2", size=(320, 256), weak=WeakLabel(0, 0)),
        "none": add_blank_image(project, "P3", size=(320, 256), weak=WeakLabel(None, None)),
    }
    ann_svc.save_contour(project, ids["mb"], square(40, 60, 50), "dr.a")
    ann_svc.save_contour(project, ids["mb"], square(150, 200, 40), "dr.b", cls=LesionClass.BENIGN)
    ann_svc.save_contour(project, ids["m"], [[100, 100], [180, 110], [170, 190], [110, 170]], "dr.a")
    ann_svc.set_no_malignant(project, ids["neg"], "dr.a")
    if dicom_dir is not None:
        for n, lat in ((1, "L"), (2, "R")):
            key = f"dicom{n}"
            ids[key] = add_dicom_image(project, write_mg_dicom(dicom_dir / f"{phi(n)['PatientID']}_{lat}.dcm", n, laterality=lat))
            ann_svc.save_contour(project, ids[key], square(60 + 20 * n, 80, 70), "dr.c")
        ann_svc.save_contour(project, ids["dicom1"], square(150, 200, 30), "dr.c", cls=LesionClass.BENIGN)
    return ids


def add_predictions(project: Project, image_ids: list[int]) -> int:
    """A model version with random region scores for the given images."""
    rng = np.random.default_rng(0)
    with project.session() as s:
        version = model_store.add_model_version(s, "SS-Cls-Det-RS", "fake-extractor", "w64s32i0.5", {}, {}, {}, b"")
        model_store.activate(s, version)
        for image_id in image_ids:
            grid = region_store.grid_id_for(s, image_id)
            n = len(region_store.regions_of(s, grid))
            model_store.put_prediction(s, version, image_id, grid, 0.7, 0.2, rng.random((n, 7)))
    return version


__all__ = ["phi", "write_mg_dicom", "add_dicom_image", "build_project", "add_predictions", "square"]
