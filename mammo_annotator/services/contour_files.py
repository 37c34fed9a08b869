"""Read contour files exported as GeoJSON or COCO (by this app or a compatible tool).

A file is read only when it is a regular file under the label-file size cap, and parsed in full:
any value of the wrong type, a number too long or nesting too deep fails the file with the reason,
before anything of it reaches a project.
"""

from __future__ import annotations

import json
import os
import reprlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..core.datasets.textfile import MAX_LABEL_FILE_BYTES, read_regular_file
from ..core.errors import LabelFileError
from ..core.types import LesionClass, Polygon

CLASS_CODES = {"m": "M", "malignant": "M", "b": "B", "benign": "B"}
MAX_CONTOUR_FILE_BYTES = MAX_LABEL_FILE_BYTES  # the label-file cap: a bigger "contour file" is something else
# what a parsed document of the wrong shape raises while it is read (a huge number, deep nesting included)
STRUCTURE_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError, OverflowError, RecursionError)


@dataclass
class ExportedImage:
    """One image of an export file: what identifies it, its status and its contours."""

    props: dict
    contours: list[tuple] = field(default_factory=list)  # (class, outline, annotator, created, modified)


def short(value: object) -> str:
    """A value as a report can show it: a 400-digit number or a huge list stays one short line."""
    text = value if isinstance(value, str) else reprlib.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cls(value: object, path: Path) -> LesionClass:
    code = CLASS_CODES.get(str(value).strip().lower())
    if code is None:
        raise LabelFileError(path, f"unknown lesion class {short(value)!r} (expected malignant or benign)")
    return LesionClass(code)


def image_key(props: dict) -> str:
    return str(props.get("sha256") or props.get("image") or props.get("image_file") or props.get("file_name") or "?")


def raw_size(props: dict) -> tuple[object, object]:
    """The exported (width, height) as written, either possibly absent."""
    return (props.get("image_width") or props.get("width"), props.get("image_height") or props.get("height"))


def _time(text: object) -> datetime | None:
    """An exported ISO time, or None when absent or unreadable (the import time is used then)."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _ring(positions: object) -> Polygon:
    """An outline from GeoJSON positions; an altitude (a third value, which GeoJSON allows) is dropped."""
    if not isinstance(positions, list) or not all(isinstance(p, list) and len(p) >= 2 for p in positions):
        raise ValueError("a polygon ring is not a list of [x, y] positions")
    return Polygon.from_array([p[:2] for p in positions])


def read_geojson(doc: dict, path: Path) -> dict[str, ExportedImage]:
    images: dict[str, ExportedImage] = {}
    top = doc.get("image") or {}
    if top:  # a per-image file: the image counts even without features (a confirmed negative)
        images[image_key(top)] = ExportedImage(dict(top))
    for feat in doc.get("features") or []:
        props = {**top, **(feat.get("properties") or {})}
        entry = images.setdefault(image_key(props), ExportedImage(props))
        geom = feat.get("geometry")
        if geom is None:
            continue
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise LabelFileError(path, f"geometry {short(geom.get('type'))!r} is not a polygon")
        polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        cls = _cls(props.get("class_code") or props.get("class") or "malignant", path)
        for rings in polys:
            entry.contours.append((cls, _ring(rings[0]), str(props.get("annotator") or "import"),
                                   _time(props.get("created")), _time(props.get("modified"))))
    return images


def _coco_images(images: list, path: Path) -> tuple[dict[object, ExportedImage], dict[str, ExportedImage]]:
    """The entries of ``images`` by COCO id and by image key. An image listed twice under two ids
    (COCO files merged) is one entry holding the contours of both; listed twice with different
    sizes, the second is kept apart so the one that does not fit the project image is skipped alone."""
    by_key: dict[str, ExportedImage] = {}
    by_id: dict[object, ExportedImage] = {}
    for im in images:
        image_id, key = im["id"], image_key(im)
        if key in by_key and raw_size(by_key[key].props) != raw_size(im):
            key = f"{key} (COCO image id {short(image_id)})"
        entry = by_key.setdefault(key, ExportedImage(im))
        if by_id.setdefault(image_id, entry) is not entry:
            raise LabelFileError(path, f"COCO image id {short(image_id)} is used by two different images")
    return by_id, by_key


def read_coco(doc: dict, path: Path) -> dict[str, ExportedImage]:
    cats = {c["id"]: c.get("name", "") for c in doc.get("categories", [])}
    by_id, by_key = _coco_images(doc.get("images", []), path)
    for ann in doc.get("annotations", []):
        entry = by_id.get(ann.get("image_id"))
        seg = ann.get("segmentation")
        if entry is None or not isinstance(seg, list):
            raise LabelFileError(path, f"annotation {short(ann.get('id'))} has no image or no polygon segmentation "
                                       "(RLE is not supported)")
        cls = _cls((ann.get("attributes") or {}).get("class") or cats.get(ann.get("category_id"), ""), path)
        attrs = ann.get("attributes") or {}
        annotator = str(attrs.get("annotator") or "import")
        times = (_time(attrs.get("created")), _time(attrs.get("modified")))
        for flat in seg:
            if len(flat) % 2:
                raise LabelFileError(path, f"annotation {short(ann.get('id'))} has an odd number of polygon coordinates")
            entry.contours.append((cls, Polygon.from_array(flat), annotator, *times))
    return by_key


def _parse_json(data: bytes, path: Path) -> object:
    """The JSON document in ``data`` (UTF-8, a BOM allowed), or a LabelFileError saying why not."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise LabelFileError(path, f"not a readable JSON file (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise LabelFileError(path, f"not a readable JSON file ({exc})") from None
    except ValueError:  # json refuses integers longer than Python's digit limit
        raise LabelFileError(path, "not a readable JSON file (a number has too many digits)") from None
    except RecursionError:
        raise LabelFileError(path, "not a readable JSON file (nested too deeply)") from None


def read_contour_file(path: str | os.PathLike) -> tuple[dict, dict[str, ExportedImage]]:
    """(header, images) of a GeoJSON FeatureCollection or COCO file, read and checked in full."""
    path = Path(path)
    doc = _parse_json(read_regular_file(path, MAX_CONTOUR_FILE_BYTES, "contour file"), path)
    try:
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            return doc, read_geojson(doc, path)
        if isinstance(doc, dict) and "images" in doc and "annotations" in doc:
            header = doc.get("info") or {}
            return header if isinstance(header, dict) else {}, read_coco(doc, path)
    except STRUCTURE_ERRORS as exc:  # parses, but wrong types
        raise LabelFileError(path, f"unexpected structure ({type(exc).__name__}: {short(str(exc))})") from None
    raise LabelFileError(path, "neither a GeoJSON FeatureCollection nor a COCO file")
