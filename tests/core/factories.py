"""Tiny DICOM / INbreast-like fixtures written on the fly (never copies of real datasets)."""

from __future__ import annotations

import plistlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def make_dicom(path: Path, pixels: np.ndarray | None = None, *, photometric: str = "MONOCHROME2",
               bits_stored: int = 12, modality: str = "MG", transfer_syntax=ExplicitVRLittleEndian,
               pixel_bytes: bytes | None = None, **attrs) -> Path:
    """Write a small single-frame DICOM; ``pixels=None`` and no ``pixel_bytes`` -> no Pixel Data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "P001"
    ds.Modality = modality
    if pixels is not None or pixel_bytes is not None:
        shape = pixels.shape if pixels is not None else attrs.pop("shape")
        ds.Rows, ds.Columns = int(shape[0]), int(shape[1])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 0
        if pixel_bytes is not None:
            ds.PixelData = pixel_bytes
            ds["PixelData"].VR = "OB"
        else:
            ds.PixelData = pixels.astype(np.uint16).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_inbreast(root: Path, rows: list[dict], rois: dict[str, list[tuple[str, list[tuple[float, float]]]]],
                  shape=(64, 48)) -> Path:
    """An INbreast-like tree: INbreast.csv, AllDICOMs/<name>_<pid>_MG_<lat>_<view>_ANON.dcm, AllXML/<name>.xml."""
    (root / "AllDICOMs").mkdir(parents=True, exist_ok=True)
    (root / "AllXML").mkdir(parents=True, exist_ok=True)
    lines = ["Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for r in rows:
        lines.append(f"{r['lat']};{r['view']};201001;{r['name']};{r.get('acr', 2)};{r['birads']}")
        if r.get("dicom", True):
            make_dicom(root / "AllDICOMs" / f"{r['name']}_{r['pid']}_MG_{r['lat']}_{r['view']}_ANON.dcm",
                       np.zeros(shape, np.uint16), ImageLaterality=r["lat"], ViewPosition=r["view"])
    (root / "INbreast.csv").write_text("\n".join(lines) + "\n")
    for name, roi_list in rois.items():
        plist = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(roi_list), "ROIs": [
            {"Name": n, "NumberOfPoints": len(pts), "Point_px": [f"({x}, {y})" for x, y in pts],
             "Point_mm": [f"({x * 0.07}, {y * 0.07}, 0)" for x, y in pts]} for n, pts in roi_list]}]}
        with open(root / "AllXML" / f"{name}.xml", "wb") as f:
            plistlib.dump(plist, f)
    return root
