"""A seeded corpus of hostile import inputs, built from the synthetic generator (and real files
when ../shared/datasets is present), and the check that runs it.

Every failure class of issue 12 has its variants: DICOM header bit flips and an unknown VR,
pixel-data corruption (raw, RLE and JPEG 2000), truncation of every format, decompression bombs
(PNG / TIFF / DICOM headers claiming huge sizes), label CSVs (huge field, Latin-1, binary,
broken quoting), mini-MIAS folders (corrupt / empty / bomb PNG, a folder named like an image)
and INbreast trees (Latin-1 / binary CSV, plists with wrong types, a 50,000-point ROI). Good
files sit beside the bad ones in every batch: all of them must be imported.

``fuzz_run`` imports the batches and judges every case.
"""

from __future__ import annotations

import plistlib
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.uid import JPEG2000Lossless, RLELossless

from mammo_annotator.core.synthetic import synthetic_mammogram
from tests.core.factories import make_dicom

SIZE = (192, 160)  # small synthetic mammograms: the corpus must run in seconds
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@dataclass
class Case:
    path: Path
    kind: str  # failure class ("good" for files that must be imported)
    must_fail: bool = False  # this file cannot be imported: it must be reported, named
    reported_as: str = "failed"  # where its report goes: "failed", or "warning" (e.g. a lesion contour skipped)
    report_path: Path | None = None  # the file the report names, when not ``path``

    @property
    def good(self) -> bool:
        return self.kind == "good"


@dataclass
class Batch:
    name: str
    source: str  # "paths" | "mini-mias" | "inbreast"
    root: Path
    cases: list[Case] = field(default_factory=list)
    labels: Path | None = None
    refused_whole: bool = False  # the source file itself is unreadable: one error naming it, nothing imported


def _pixels(rng: np.random.Generator, bits: int = 12) -> np.ndarray:
    case = synthetic_mammogram(int(rng.integers(1 << 30)), size=SIZE, laterality=str(rng.choice(["L", "R"])), bits=bits)
    return case.pixels


def good_dicom(path: Path, rng: np.random.Generator, syntax=None) -> Path:
    make_dicom(path, _pixels(rng), ImageLaterality="L", ViewPosition="CC", PatientID=f"FZ{rng.integers(10**6)}",
               PixelSpacing=[0.1, 0.1])
    if syntax is not None:
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(path)
    return path


def good_png(path: Path, rng: np.random.Generator) -> Path:
    Image.fromarray((_pixels(rng, 8)).astype(np.uint8)).save(path)
    return path


def good_tiff(path: Path, rng: np.random.Generator, compression: str | None = None) -> Path:
    tifffile.imwrite(path, _pixels(rng).astype(np.uint16), compression=compression)
    return path


def good_png16(path: Path, rng: np.random.Generator) -> Path:
    Image.fromarray(_pixels(rng).astype(np.uint16)).save(path)
    return path


# ---------------------------------------------------------------- mutations

def flip_bits(data: bytes, rng: np.random.Generator, lo: int, hi: int, n: int) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(lo, max(lo + 1, hi), n):
        out[pos] ^= 1 << int(rng.integers(8))
    return bytes(out)


def pixel_data_offset(data: bytes) -> int:
    return data.rfind(b"\xe0\x7f\x10\x00")


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header chunk claims another size (CRC recomputed, as a crafted bomb has)."""
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def tiff_claiming(path: Path, width: int, height: int) -> Path:
    """A small classic little-endian TIFF whose ImageWidth / ImageLength tags claim another size."""
    tifffile.imwrite(path, np.full((8, 8), 90, np.uint16))
    data = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * k
        tag, typ = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            struct.pack_into("<HHII", data, entry, tag, 4, 1, width if tag == 256 else height)  # as LONG
    path.write_bytes(bytes(data))
    return path


def dicom_claiming(path: Path, rng: np.random.Generator, rows: int, cols: int) -> Path:
    good_dicom(path, rng)
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = rows, cols
    ds.save_as(path)
    return path


# ---------------------------------------------------------------- batches

def folder_batch(root: Path, rng: np.random.Generator, scale: int = 1) -> Batch:
    """Good DICOM / PNG / TIFF files among corrupt, truncated and bomb files in one folder."""
    root.mkdir(parents=True)
    b = Batch("folder", "paths", root)
    goods = []
    for k in range(2 * scale):
        goods += [good_dicom(root / f"good{k}.dcm", rng), good_png(root / f"good{k}.png", rng),
                  good_tiff(root / f"good{k}.tif", rng)]
    goods += [good_dicom(root / "good_rle.dcm", rng, RLELossless), good_dicom(root / "good_j2k.dcm", rng, JPEG2000Lossless),
              good_png16(root / "good16.png", rng), good_tiff(root / "goodz.tif", rng, "zlib")]
    b.cases += [Case(p, "good") for p in goods]
    dicoms = [p for p in goods if p.suffix == ".dcm"]
    for k in range(12 * scale):  # bit flips anywhere in the header (file meta included)
        src = dicoms[k % len(dicoms)].read_bytes()
        path = root / f"flip{k}.dcm"
        path.write_bytes(flip_bits(src, rng, 128, pixel_data_offset(src) + 12, int(rng.integers(1, 5))))
        b.cases.append(Case(path, "dicom-header-bitflip"))
    src = dicoms[0].read_bytes()
    vr_at = src.find(b"\x10\x00\x20\x00LO")
    for k, vr in enumerate((b"Q\x19", b"\x00\x00", b"zz")):  # unknown VR in PatientID, as the campaign found
        path = root / f"badvr{k}.dcm"
        path.write_bytes(src[:vr_at + 4] + vr + src[vr_at + 6:])
        b.cases.append(Case(path, "dicom-unknown-vr", must_fail=True))
    for k, base in enumerate(p for p in dicoms for _ in range(scale)):  # pixel data: random bytes, a short element
        data = bytearray(base.read_bytes())
        start = pixel_data_offset(data) + 12
        for pos in rng.integers(start, len(data), 24):
            data[pos] = int(rng.integers(256))
        (root / f"pixels{k}.dcm").write_bytes(bytes(data))
        b.cases.append(Case(root / f"pixels{k}.dcm", "dicom-pixel-corruption"))
    for k, base in enumerate(dicoms):
        data = base.read_bytes()
        for j, frac in enumerate((0.02, 0.2, 0.6, 0.97)):  # truncation: in the preamble, header, pixels
            path = root / f"trunc{k}_{j}.dcm"
            path.write_bytes(data[: max(1, int(len(data) * frac))])
            b.cases.append(Case(path, "truncated-dicom", must_fail=True))
    for base in [p for p in goods if p.suffix in (".png", ".tif")]:
        data = base.read_bytes()
        for j, frac in enumerate((0.01, 0.3, 0.8)):
            path = root / f"trunc_{base.stem}_{j}{base.suffix}"
            path.write_bytes(data[: max(1, int(len(data) * frac))])
            b.cases.append(Case(path, f"truncated-{base.suffix[1:]}", must_fail=True))
        flipped = root / f"flip_{base.stem}{base.suffix}"
        flipped.write_bytes(flip_bits(data, rng, 8, len(data), 6))
        b.cases.append(Case(flipped, f"{base.suffix[1:]}-bitflip"))
    for w, h in ((20_000, 20_000), (2**31 - 1, 2**31 - 1), (100_000, 3_000), (14_143, 14_143)):
        b.cases.append(Case(png_claiming(root / f"bomb{w}x{h}.png", w, h), "png-bomb", must_fail=True))
    for w, h in ((20_000, 20_000), (2**31 - 1, 2**31 - 1)):
        b.cases.append(Case(tiff_claiming(root / f"bomb{w}x{h}.tif", w, h), "tiff-bomb", must_fail=True))
    b.cases.append(Case(dicom_claiming(root / "bomb.dcm", rng, 65535, 65535), "dicom-bomb", must_fail=True))
    (root / "empty.png").write_bytes(b"")
    (root / "empty.dcm").write_bytes(b"")
    (root / "folder.png").mkdir()
    (root / "folder.png" / "inner.txt").write_text("a folder named like an image")
    (root / "text.dcm").write_text("not a DICOM at all\n" * 20)
    (root / "jpeg.png").write_bytes(b"\xff\xd8\xff\xe0" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)))
    b.cases += [Case(root / "empty.png", "empty-file", must_fail=True), Case(root / "empty.dcm", "empty-file", must_fail=True),
                Case(root / "text.dcm", "not-an-image", must_fail=True), Case(root / "jpeg.png", "not-an-image", must_fail=True)]
    return b


CSV_VARIANTS = ("huge-field", "latin-1", "broken-quote", "extra-columns", "binary")


def csv_batch(root: Path, rng: np.random.Generator, variant: str) -> Batch:
    """Good PNGs labelled by a CSV with one kind of damage."""
    root.mkdir(parents=True)
    b = Batch(f"csv-{variant}", "paths", root, labels=root / "labels.csv")
    names = [good_png(root / f"img{k}.png", rng).name for k in range(3)]
    b.cases += [Case(root / n, "good") for n in names]
    rows = [f"{n},P{k},{(1, 2, 5)[k]}" for k, n in enumerate(names)]
    if variant == "huge-field":
        rows.insert(1, f"img_missing.png,P9,{'4' * 200_000}")
    elif variant == "latin-1":
        rows = [r.replace(f",P{k},", f",Patiënt-{k}-Müller,") for k, r in enumerate(rows)]
    elif variant == "broken-quote":
        rows.append('"img_x.png,P7,2')
    elif variant == "extra-columns":
        rows.insert(1, ",".join(["x"] * 5000))
    text = "image,patient_id,birads\n" + "\n".join(rows) + "\n"
    if variant == "binary":
        b.labels.write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)) + b"\x00")
        b.refused_whole = True
    else:
        b.labels.write_bytes(text.encode("latin-1" if variant == "latin-1" else "utf-8"))
        if variant != "latin-1":
            b.cases.append(Case(b.labels, f"csv-{variant}", must_fail=True))
    return b


def mias_batch(root: Path, rng: np.random.Generator) -> Batch:
    """A mini-MIAS folder: good images with bad ones of every kind, all listed in Info.txt."""
    root.mkdir(parents=True)
    b = Batch("mini-mias", "mini-mias", root)
    lines = []
    real = sorted(SHARED.glob("mini-mias/mdb*.png"))[:2]
    for k in range(1, 5):  # real mini-MIAS images when present, synthetic ones otherwise
        path = root / f"mdb{k:03d}.png"
        if k <= len(real):
            path.write_bytes(real[k - 1].read_bytes())
        else:
            good_png(path, rng)
        b.cases.append(Case(path, "good"))
        lines.append(f"mdb{k:03d} G CIRC B 80 90 20" if k % 2 else f"mdb{k:03d} F NORM")
    png = (root / "mdb001.png").read_bytes()
    bad = {
        5: ("corrupt-png", png[:8] + bytes(rng.integers(0, 256, 400, dtype=np.uint8))),
        6: ("empty-png", b""),
        7: ("png-bomb", None),
        9: ("truncated-png", png[: len(png) // 3]),
    }
    for k, (kind, data) in bad.items():
        path = root / f"mdb{k:03d}.png"
        if data is None:
            png_claiming(path, 30_000, 30_000)
        else:
            path.write_bytes(data)
        b.cases.append(Case(path, f"mias-{kind}", must_fail=True))
        lines.append(f"mdb{k:03d} G CIRC M 100 100 30")
    (root / "mdb008.png").mkdir()
    b.cases.append(Case(root / "mdb008.png", "mias-folder-named-like-an-image", must_fail=True))
    lines += ["mdb008 D CALC M 50 50 10", "mdb010 G SPIC M " + "9" * 5000, "mdb011 \x00\x01\x02 garbage"]
    (root / "Info.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1", "replace"))
    return b


def _roi(name: str, pts) -> dict:
    return {"Name": name, "NumberOfPoints": len(pts), "Point_px": [f"({x:.2f}, {y:.2f})" for x, y in pts]}


def inbreast_batch(root: Path, rng: np.random.Generator, csv_kind: str = "utf-8") -> Batch:
    """An INbreast-like tree: good DICOMs whose plists are broken in every way, one ROI of 50,000
    random points, and the CSV in UTF-8, Latin-1 or binary."""
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    b = Batch(f"inbreast-{csv_kind}", "inbreast", root)
    square = [(40, 40), (90, 40), (90, 90), (40, 90)]
    plists = {
        "ok": {"Images": [{"ROIs": [_roi("Mass", square)]}]},
        "images-dict": {"Images": {"ROIs": []}},
        "rois-string": {"Images": [{"ROIs": "Mass"}]},
        "points-int": {"Images": [{"ROIs": [{"Name": "Mass", "Point_px": 7}]}]},
        "points-dicts": {"Images": [{"ROIs": [{"Name": "Mass", "Point_px": [{}, {}, {}]}]}]},
        "rois-strings": {"Images": [{"ROIs": ["Mass", "Mass"]}]},
        "name-int": {"Images": [{"ROIs": [{"Name": 5, "Point_px": "(1, 2)"}]}]},
        "top-list": ["Images"],
        "roi-50k-points": {"Images": [{"ROIs": [_roi("Mass", rng.random((50_000, 2)) * [SIZE[1], SIZE[0]])]}]},
    }
    lines = ["Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for k, (kind, plist) in enumerate(plists.items()):
        name = f"{5000 + k}"
        dcm = good_dicom(root / "AllDICOMs" / f"{name}_pat{k}_MG_L_CC_ANON.dcm", rng)
        b.cases.append(Case(dcm, "good"))
        with open(root / "AllXML" / f"{name}.xml", "wb") as f:
            plistlib.dump(plist, f)
        if kind in ("roi-50k-points", "name-int"):  # the image imports; the ROI is skipped with a warning
            label = "inbreast-roi-50k-points" if kind == "roi-50k-points" else f"inbreast-plist-{kind}"
            b.cases.append(Case(root / "AllXML" / f"{name}.xml", label, must_fail=True, reported_as="warning",
                                report_path=dcm))
        elif kind != "ok":
            b.cases.append(Case(root / "AllXML" / f"{name}.xml", f"inbreast-plist-{kind}", must_fail=True))
        lines.append(f"L;CC;201001;{name};2;{(2, 5)[k % 2]}")
    (root / "AllXML" / "5090.xml").write_bytes(b"<?xml version='1.0'?><plist><dict><key>Images</key><array><dict>")
    (root / "AllDICOMs" / "5099_folder_MG_L_CC_ANON.dcm").mkdir()
    lines += ["L;CC;201001;5090;2;4", "L;CC;201001;5099;2;4", "X;CC;201001;5001;2;4",
              "L;CC;201001;" + "7" * 200_000 + ";2;4"]
    good_dicom(root / "AllDICOMs" / "5090_patx_MG_L_CC_ANON.dcm", rng)
    b.cases += [Case(root / "AllDICOMs" / "5090_patx_MG_L_CC_ANON.dcm", "good"),
                Case(root / "AllXML" / "5090.xml", "inbreast-plist-truncated", must_fail=True),
                Case(root / "AllDICOMs" / "5099_folder_MG_L_CC_ANON.dcm", "inbreast-folder-named-like-a-dicom", must_fail=True)]
    text = "\n".join(lines) + "\n"
    if csv_kind == "binary":
        (root / "INbreast.csv").write_bytes(b"\x00\xff" + bytes(rng.integers(0, 256, 2048, dtype=np.uint8)))
        b.refused_whole = True
    else:
        data = text.replace("201001", "2010é01").encode("latin-1") if csv_kind == "latin-1" else text.encode()
        (root / "INbreast.csv").write_bytes(data)
    return b


def real_batch(root: Path, rng: np.random.Generator) -> Batch | None:
    """Header flips, codestream corruption and truncation of the real JPEG 2000 mammogram."""
    real = SHARED / "dicom" / "MG1_J2KI.dcm"
    if not real.is_file():
        return None
    root.mkdir(parents=True)
    data = real.read_bytes()
    b = Batch("real-dicom", "paths", root)
    start = pixel_data_offset(data) + 12
    for k in range(4):
        (root / f"flip{k}.dcm").write_bytes(flip_bits(data, rng, 128, start, 3))
        b.cases.append(Case(root / f"flip{k}.dcm", "real-dicom-header-bitflip"))
    for k in range(2):
        out = bytearray(data)
        for pos in rng.integers(start + 64, start + 4096, 16):
            out[pos] = int(rng.integers(256))
        (root / f"codestream{k}.dcm").write_bytes(bytes(out))
        b.cases.append(Case(root / f"codestream{k}.dcm", "real-dicom-codestream-corruption"))
    for k, frac in enumerate((0.001, 0.3)):
        (root / f"trunc{k}.dcm").write_bytes(data[: int(len(data) * frac)])
        b.cases.append(Case(root / f"trunc{k}.dcm", "real-dicom-truncated", must_fail=True))
    return b


def build_corpus(root: Path, seed: int = 0, scale: int = 1) -> list[Batch]:
    rng = np.random.default_rng(seed)
    batches = [folder_batch(root / "folder", rng, scale)]
    batches += [csv_batch(root / f"csv-{v}", rng, v) for v in CSV_VARIANTS]
    batches += [mias_batch(root / "mias", rng)]
    batches += [inbreast_batch(root / f"inbreast-{kind}", rng, kind) for kind in ("utf-8", "latin-1", "binary")]
    real = real_batch(root / "real", rng)
    return batches + ([real] if real is not None else [])

