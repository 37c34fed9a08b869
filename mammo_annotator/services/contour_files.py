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
MAX_RING_POINTS = 100_000  # one outline; check_contour simplifies anything over 2,000 points anyway
MAX_CONTOURS_PER_IMAGE = 1000  # lesions of one mammogram; more is no set of outlines (and would take hours)
ANNOTATOR_MAX = 128  # the database's annotator column; PostgreSQL refuses a longer value
# what a parsed document of the wrong shape raises while it is read (a huge number, deep nesting included)
STRUCTURE_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError, OverflowError, RecursionError)
_NUMBER = (int, float)  # exact types: a JSON true / false is no coordinate


class _Bad(ValueError):
    """A document of the wrong shape: the message says where (feature, annotation) and what."""


@dataclass
class ExportedImage:
    """One image of an export file: what identifies it, its status and its contours."""

    props: dict
    contours: list[tuple] = field(default_factory=list)  # (class, outline, annotator, created, modified)
    notes: list[str] = field(default_factory=list)  # reported once the image is imported (holes dropped)
    excess: int = 0  # contours over MAX_CONTOURS_PER_IMAGE, counted but not built

    def full(self) -> bool:
        """Whether the image holds all the contours it may; a further one is only counted (not built)."""
        if len(self.contours) < MAX_CONTOURS_PER_IMAGE:
            return False
        self.excess += 1
        return True


def short(value: object) -> str:
    """A value as a report can show it: a 400-digit number or a huge list stays one short line."""
    text = value if isinstance(value, str) else reprlib.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    """The JSON type of ``value`` in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _obj(value: object, what: str, optional: bool = False) -> dict:
    if optional and value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{what} is {_kind(value)}, not an object")
    return value


def _list(value: object, what: str, optional: bool = False) -> list:
    if optional and value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{what} is {_kind(value)}, not a list")
    return value


def _id(value: object, what: str) -> object:
    """A COCO id: a number or text (a list or an object cannot key anything)."""
    if type(value) not in (int, float, str):
        raise _Bad(f"{what} is {_kind(value)}, not a number or text")
    return value


def _cls(value: object, where: str) -> LesionClass:
    code = CLASS_CODES.get(str(value).strip().lower())
    if code is None:
        raise _Bad(f"{where}: unknown lesion class {short(value)!r} (expected malignant or benign)")
    return LesionClass(code)


def _annotator(value: object, where: str) -> str:
    """Who drew it, as the database can store it; 'import' when the file does not say."""
    if value is None or value == "":
        return "import"
    if type(value) not in (str, int):
        raise _Bad(f"{where}: annotator is {_kind(value)}, not a name")
    name = str(value).strip()
    if len(name) > ANNOTATOR_MAX:
        raise _Bad(f"{where}: annotator name of {len(name)} characters (at most {ANNOTATOR_MAX})")
    if not name.isprintable():
        raise _Bad(f"{where}: annotator {name!r} holds control characters")
    return name or "import"


def image_key(props: dict) -> str:
    """How a report names the exported image: printable, whatever the file holds."""
    key = str(props.get("sha256") or props.get("image") or props.get("image_file") or props.get("file_name") or "?")
    return key if key.isprintable() else ascii(key)


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


def _outline(xy: list, where: str) -> Polygon:
    """The outline of ``xy`` (pairs of JSON numbers); an integer too large for a float is refused."""
    if len(xy) > MAX_RING_POINTS:
        raise _Bad(f"{where}: an outline of {len(xy)} points (at most {MAX_RING_POINTS})")
    try:
        return Polygon.from_array(xy)
    except OverflowError:
        raise _Bad(f"{where}: a coordinate too large for a number") from None


def _ring(positions: object, where: str) -> Polygon:
    """An outline from GeoJSON positions; an altitude (a third value, which GeoJSON allows) is dropped.
    Each position must be numbers: text, true/false or a list one level too deep is refused, not read
    as something else."""
    if not isinstance(positions, list):
        raise _Bad(f"{where}: a polygon ring is {_kind(positions)}, not a list of [x, y] positions")
    for n, p in enumerate(positions, 1):
        if not (type(p) is list and len(p) >= 2 and type(p[0]) in _NUMBER and type(p[1]) in _NUMBER):
            raise _Bad(f"{where}: position {n} is {short(p)}, not [x, y] numbers")
    return _outline([p[:2] for p in positions], where)


def _polygons(geom: dict, where: str) -> list[list]:
    """The polygons (lists of rings) of a Polygon or MultiPolygon geometry."""
    kind = geom.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _Bad(f"{where}: geometry {short(kind)!r} is not a polygon")
    coords = _list(geom.get("coordinates"), f"{where}: 'coordinates'")
    polys = [coords] if kind == "Polygon" else [_list(p, f"{where}: polygon {n}") for n, p in enumerate(coords, 1)]
    if any(not rings for rings in polys):
        raise _Bad(f"{where}: a polygon without any ring")
    return polys


def read_geojson(doc: dict, path: Path) -> dict[str, ExportedImage]:
    images: dict[str, ExportedImage] = {}
    top = _obj(doc.get("image"), "'image'", optional=True)
    if top:  # a per-image file: the image counts even without features (a confirmed negative)
        images[image_key(top)] = ExportedImage(dict(top))
    for n, feat in enumerate(_list(doc.get("features"), "'features'", optional=True), 1):
        where = f"feature {n}"
        feat = _obj(feat, where)
        props = {**top, **_obj(feat.get("properties"), f"{where}: properties", optional=True)}
        entry = images.setdefault(image_key(props), ExportedImage(props))
        if feat.get("geometry") is None:
            continue
        polys = _polygons(_obj(feat.get("geometry"), f"{where}: geometry"), where)
        cls = _cls(props.get("class_code") or props.get("class") or "malignant", where)
        annotator = _annotator(props.get("annotator"), where)
        times = (_time(props.get("created")), _time(props.get("modified")))
        for rings in polys:
            if entry.full():
                continue
            entry.contours.append((cls, _ring(rings[0], where), annotator, *times))
            if len(rings) > 1:
                entry.notes.append(f"{image_key(props)}: {where}: {len(rings) - 1} hole(s) dropped "
                                   "(a contour is one outline; the area inside it counts whole)")
    return images


def _coco_images(images: list, path: Path) -> tuple[dict[object, ExportedImage], dict[str, ExportedImage]]:
    """The entries of ``images`` by COCO id and by image key. An image listed twice under two ids
    (COCO files merged) is one entry holding the contours of both; listed twice with different
    sizes, the second is kept apart so the one that does not fit the project image is skipped alone."""
    by_key: dict[str, ExportedImage] = {}
    by_id: dict[object, ExportedImage] = {}
    for n, im in enumerate(images, 1):
        im = _obj(im, f"COCO image {n}")
        image_id, key = _id(im.get("id"), f"COCO image {n}: id"), image_key(im)
        if key in by_key and raw_size(by_key[key].props) != raw_size(im):
            key = f"{key} (COCO image id {short(image_id)})"
        entry = by_key.setdefault(key, ExportedImage(im))
        if by_id.setdefault(image_id, entry) is not entry:
            raise LabelFileError(path, f"COCO image id {short(image_id)} is used by two different images")
    return by_id, by_key


def read_coco(doc: dict, path: Path) -> dict[str, ExportedImage]:
    cats = {}
    for n, c in enumerate(_list(doc.get("categories"), "'categories'", optional=True), 1):
        c = _obj(c, f"COCO category {n}")
        cats[_id(c.get("id"), f"COCO category {n}: id")] = c.get("name", "")
    by_id, by_key = _coco_images(_list(doc.get("images"), "'images'"), path)
    for n, ann in enumerate(_list(doc.get("annotations"), "'annotations'"), 1):
        ann = _obj(ann, f"COCO annotation {n}")
        where = f"annotation {short(ann.get('id'))}"
        image_id, seg = ann.get("image_id"), ann.get("segmentation")
        entry = by_id.get(image_id) if type(image_id) in (int, float, str) else None
        if entry is None or not isinstance(seg, list):
            raise LabelFileError(path, f"{where} has no image or no polygon segmentation (RLE is not supported)")
        attrs = _obj(ann.get("attributes"), f"{where}: attributes", optional=True)
        category = ann.get("category_id")
        cls = _cls(attrs.get("class") or (cats.get(category, "") if type(category) in (int, float, str) else ""), where)
        annotator = _annotator(attrs.get("annotator"), where)
        times = (_time(attrs.get("created")), _time(attrs.get("modified")))
        for flat in seg:
            flat = _list(flat, f"{where}: a segmentation polygon")
            if len(flat) % 2:
                raise LabelFileError(path, f"{where} has an odd number of polygon coordinates")
            wrong = next((v for v in flat if type(v) not in _NUMBER), None)
            if wrong is not None:
                raise _Bad(f"{where}: coordinate {short(wrong)} is {_kind(wrong)}, not a number")
            if not entry.full():
                entry.contours.append((cls, _outline(flat, where), annotator, *times))
    return by_key


def _checked_object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, refused when a key appears twice (which value counts is a guess: an image's
    hash given twice would send its contours to either image) or when a key or text value holds a
    lone surrogate (a \\ud800 escape is valid JSON but no text: the database and the terminal refuse it)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Bad(f"the key {short(dup)!r} appears twice in one object")
    for k, v in pairs:
        for text in (k, v) if isinstance(v, str) else (k,):
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Bad(f"{ascii(text)[:60]} holds a lone UTF-16 surrogate (\\u escape), not text") from None
    return obj


def _parse_json(data: bytes, path: Path) -> object:
    """The JSON document in ``data`` (UTF-8, a BOM allowed), or a LabelFileError saying why not."""
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=_checked_object)
    except _Bad as exc:
        raise LabelFileError(path, f"not a usable JSON file ({exc})") from None
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
    except _Bad as exc:
        raise LabelFileError(path, str(exc)) from None
    except STRUCTURE_ERRORS as exc:  # parses, but wrong types
        raise LabelFileError(path, f"unexpected structure ({type(exc).__name__}: {short(str(exc))})") from None
    raise LabelFileError(path, "neither a GeoJSON FeatureCollection nor a COCO file")
