"""The source image as a derived DICOM object sees it: a whitelisted, de-identified header.

highdicom copies the patient and study modules of the source image into a SEG or SR. Instead of
removing identifying tags one by one (and missing the private or unusual ones), the source is
rebuilt from a short whitelist of technical attributes, and only then given patient and study
identity:

* PatientName, PatientBirthDate, PatientSex and ReferringPhysicianName are always empty;
  institution, physicians, operators, comments and private tags are never copied.
* StudyDate and StudyTime (Type 2, needed to build a DICOMDIR) are never dropped: PS3.15's
  basic profile replaces them with a dummy value (``DUMMY_DATE``, ``DUMMY_TIME``), in every mode.
* Pseudonymised (default): PatientID and PatientName become the patient pseudonym; Study, Series
  and SOP Instance UIDs are remapped with ``Pseudonyms.uid`` (deterministic,
  so every SEG / SR of an export references the same remapped source, and the source images
  de-identified with the same project secret match them); AccessionNumber is empty and StudyID
  is the study's pseudonym (``Pseudonyms.study``), the same for every object of the study.
* ``keep_ids``: PatientID, the UIDs, AccessionNumber and StudyID are the originals (so a PACS
  files the objects with their study; a source without a StudyID, or with one too long for its
  VR, gets the pseudonym); names and dates are still left out.
* ``fitted_source`` fits every value to its VR (``vr_fit``: an overlong id is left empty, never
  cut) before highdicom copies it; an invalid UID the objects must reference refuses the image.
"""

from __future__ import annotations

from dataclasses import replace

from pydicom.dataset import Dataset

from ...core.errors import ImageReadError
from ...core.imageio import read_dicom_header
from ...core.records import ImageRecord
from .pseudonyms import Identities
from .vr_fit import Fitted, fit_dataset

TECHNICAL = (
    "SOPClassUID", "Modality", "ImageType", "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PixelSpacing", "ImagerPixelSpacing",
    "ImageLaterality", "Laterality", "ViewPosition", "PatientOrientation", "BodyPartExamined",
    "SeriesNumber", "InstanceNumber",
)
# No FrameOfReferenceUID: a projection mammogram's header (no plane position or orientation is
# copied) has no geometry to share, and with one, highdicom's SEG declares pixel measures that then
# need a Slice Thickness (dciodvfy: "Missing attribute Type 1C ... SliceThickness")
UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
REQUIRED = ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns")  # what SEG and SR reference
REFERENCED = ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")  # what derived objects name
EMPTY = ("PatientName", "PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber")
DUMMY_DATE, DUMMY_TIME = "19000101", "000000"  # PS3.15 "Z": a dummy value that names no real day


TEXT_VRS = ("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT")
UTF8 = "ISO_IR 192"


def declare_charset(ds: Dataset) -> None:
    """Declare UTF-8 when any text of the object is not ASCII (an annotator named "Müller", a kept
    PatientID from a source in another character set): without Specific Character Set such values
    are invalid, and characters outside Latin-1 were written as "?" (a kept PatientID changed)."""
    for element in ds.iterall():
        if element.VR in TEXT_VRS and element.value is not None:
            values = element.value if element.VM > 1 else [element.value]
            if any(not str(v).isascii() for v in values):
                ds.SpecificCharacterSet = UTF8
                return


def is_dicom_source(image: ImageRecord) -> bool:
    return bool(image.sop_instance_uid)


def source_header(image: ImageRecord, ids: Identities) -> Dataset:
    """The image's DICOM header, de-identified as described above; raises ImageReadError when the
    source file is gone (and, for an image from a PACS, cannot be retrieved), is not the image
    that was imported, or lacks what a derived object must reference (so the export skips it by
    name and goes on with the other images)."""
    from ..pacs_fetch import local_file  # local: the DICOMweb client loads only when an export needs it

    original = read_dicom_header(local_file(image))  # from a PACS and not here: the verified copy
    if str(getattr(original, "SOPInstanceUID", "")) != image.sop_instance_uid:
        raise ImageReadError(image.source_path, "the file no longer holds the imported image (SOP Instance UID differs)")
    missing = [keyword for keyword in REQUIRED if not original.get(keyword)]
    if missing:  # a truncated file keeps its SOP Instance UID, and highdicom then failed the whole export
        raise ImageReadError(image.source_path, f"the DICOM header is incomplete (a damaged or truncated file?): "
                                                f"no {', '.join(missing)}")
    if (int(original.Rows), int(original.Columns)) != (image.height, image.width):
        raise ImageReadError(image.source_path, f"the file's image is {original.Columns} x {original.Rows} pixels, "
                                                f"the imported one {image.width} x {image.height}")
    ds = Dataset()
    for keyword in TECHNICAL:
        if keyword in original:
            setattr(ds, keyword, original[keyword].value)
    for keyword in UIDS:
        if keyword in original and original[keyword].value:
            setattr(ds, keyword, ids.uid(str(original[keyword].value)))
    for keyword in EMPTY:
        setattr(ds, keyword, "")
    ds.StudyDate, ds.StudyTime = DUMMY_DATE, DUMMY_TIME
    ds.PatientID = ids.patient(image.patient_key)
    ds.StudyID = ids.pseudonyms.study(str(getattr(original, "StudyInstanceUID", "") or image.study_key))
    if ids.keep_ids:
        ds.PatientID = str(getattr(original, "PatientID", "") or image.patient_key)
        ds.AccessionNumber = str(getattr(original, "AccessionNumber", "") or "")
        ds.StudyID = str(getattr(original, "StudyID", "") or ds.StudyID)
    else:
        ds.PatientName = f"{ds.PatientID}^"  # a one-component person name
    return ds


def fitted_source(image: ImageRecord, ids: Identities) -> tuple[Dataset, list[Fitted]]:
    """``source_header`` with every value fitted to its VR (``vr_fit``) before highdicom copies it,
    and the changes made. A UID a derived object must reference cannot be cut or left out: when
    the source's is invalid (kept with ``keep_ids``), the image is refused by name (ImageReadError)."""
    ds = source_header(image, ids)
    changes = fit_dataset(ds)
    broken = [change for change in changes if change.path in REFERENCED]
    if broken:
        raise ImageReadError(image.source_path, "no valid object can reference this image: its "
                             + "; ".join(str(change) for change in broken))
    for k, change in enumerate(changes):
        if change.path == "StudyID":  # as for a source without one: the study's pseudonym
            ds.StudyID = ids.pseudonyms.study(str(ds.StudyInstanceUID))
            action = change.action.replace("left empty", "replaced by the study's pseudonym")
            changes[k] = replace(change, action=action, value=ds.StudyID)
    return ds, changes
