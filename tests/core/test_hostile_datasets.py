"""Dataset readers against hostile input: bad numbers, absurd circles, BOMs, FIFOs, unreadable files.

Each case must end in a clear problem naming the file (and line), with the rest of the dataset
still read; none may hang or raise an unexpected exception.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.datasets import inbreast as inbreast_module
from mammo_annotator.core.datasets.csvlabels import load_label_csv
from mammo_annotator.core.datasets.inbreast import load_inbreast, parse_roi_xml
from mammo_annotator.core.datasets.minimias import implausible_circle, inside_fraction, load_minimias
from mammo_annotator.core.datasets.textfile import read_label_text
from mammo_annotator.core.errors import LabelFileError
from mammo_annotator.core.types import LesionClass, WeakLabel

from .factories import make_inbreast

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="os.mkfifo is not available on this platform")
BOM = b"\xef\xbb\xbf"


def _mias(tmp_path: Path, info: bytes, refs: range = range(1, 7), size: tuple[int, int] = (1024, 1024)) -> Path:
    """A mini-MIAS folder: ``info`` as Info.txt (raw bytes) and blank PNGs of ``size`` (w, h)."""
    (tmp_path / "Info.txt").write_bytes(info)
    for n in refs:
        Image.fromarray(np.zeros(size[::-1], np.uint8)).save(tmp_path / f"mdb{n:03d}.png")
    return tmp_path


def _finishes(fn: Callable[[], object], fifo: Path, seconds: float = 20.0) -> object:
    """``fn()``'s result or exception; fails fast (and unblocks the reader) if it blocks on ``fifo``."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # the blocked reader sees EOF and ends
        worker.join(seconds)
        pytest.fail(f"the reader blocked on the FIFO {fifo}")
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


# ---------------------------------------------------------------- mini-MIAS: unreadable numbers


@pytest.mark.parametrize("bad", [b"47\xb2", b"4" * 400, b"4" * 5000, "٤٧".encode()])
def test_minimias_bad_number_reported_rest_imported(tmp_path, bad):
    info = (b"Notes \x85 a Latin-1 NEL, not a line break\n"
            b"mdb001 G CIRC M 535 425 97\n"
            b"mdb002 G SPIC M 100 50 10\n"
            b"mdb002 G CIRC B " + bad + b" 133 30\n"
            b"mdb005 F CIRC B " + bad + b" 133 30\n"
            b"mdb006 F NORM\n")
    records, problems = load_minimias(_mias(tmp_path, info, refs=(1, 2, 5, 6)))
    by = {r.refnum: r for r in records}
    assert set(by) == {"mdb001", "mdb002", "mdb005", "mdb006"}
    assert [(Path(p.path).name, p.line) for p in problems] == [("Info.txt", 4), ("Info.txt", 5)]
    assert "mdb002" in problems[0].reason and "mdb005" in problems[1].reason
    assert all(len(str(p)) < 400 for p in problems)  # a 5000-digit field is not echoed whole
    # the severity still gives the weak label; the unreadable location gives no local annotation
    assert by["mdb005"].weak_label == WeakLabel(0, 1) and by["mdb005"].lesions == ()
    assert by["mdb005"].unlocated == ("CIRC B",) and "line 5" in by["mdb005"].notes[0]
    assert by["mdb002"].weak_label == WeakLabel(1, 1) and by["mdb002"].unlocated == ("CIRC B",)
    assert [les.cls for les in by["mdb002"].lesions] == [LesionClass.MALIGNANT]
    assert len(by["mdb001"].lesions) == 1 and by["mdb006"].weak_label == WeakLabel(0, 0)


def test_minimias_garbage_row_with_nul_is_one_problem(tmp_path):
    info = b"mdb001 G CIRC M 535 425 97\nmdb011 \x00\x01\x02 garbage\nmdb002 F NORM\n"
    records, problems = load_minimias(_mias(tmp_path, info, refs=(1, 2)))
    assert [r.refnum for r in records] == ["mdb001", "mdb002"]
    assert [p.line for p in problems] == [2] and "unreadable row" in problems[0].reason


# ---------------------------------------------------------------- mini-MIAS: unreadable Info.txt


def test_minimias_utf16_info_is_refused_with_why(tmp_path):
    folder = _mias(tmp_path, "mdb001 G NORM\n".encode("utf-16"), refs=(1,))
    with pytest.raises(LabelFileError, match="UTF-16"):
        load_minimias(folder)



def test_minimias_unreadable_info_is_named(tmp_path, monkeypatch):
    folder = _mias(tmp_path, b"mdb001 G NORM\n", refs=(1,))
    real_open = os.open

    def deny(path, *args, **kwargs):
        if Path(path).name == "Info.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)  # root reads a chmod-000 file, so deny it this way
    with pytest.raises(LabelFileError) as err:
        load_minimias(folder)
    assert err.value.path.endswith("Info.txt") and "Permission denied" in err.value.reason


@needs_fifo
def test_minimias_fifo_info_and_image_refused(tmp_path):
    folder = _mias(tmp_path, b"mdb001 G NORM\nmdb002 G CIRC M 500 500 20\n", refs=(1,))
    os.mkfifo(folder / "mdb002.png")
    records, problems = _finishes(lambda: load_minimias(folder), folder / "mdb002.png")
    assert [r.refnum for r in records] == ["mdb001"]
    assert problems[0].path.endswith("mdb002.png") and "not a regular file" in problems[0].reason
    (folder / "Info.txt").unlink()
    os.mkfifo(folder / "Info.txt")
    with pytest.raises(LabelFileError, match="not a regular file"):
        _finishes(lambda: load_minimias(folder), folder / "Info.txt")


# ---------------------------------------------------------------- mini-MIAS: implausible circles


@pytest.mark.parametrize("loc", ["538 681 99999", "538 681 0", "2000 500 30", "500 1100 30", "5 5 400",
                                 "538 681 513"])
def test_minimias_implausible_circle_refused(tmp_path, loc):
    info = f"mdb001 G CIRC B 535 425 197\nmdb002 G CIRC M {loc}\nmdb003 F MISC B 233 994 29\n"
    records, problems = load_minimias(_mias(tmp_path, info.encode(), refs=(1, 2, 3)))
    by = {r.refnum: r for r in records}
    assert len(problems) == 1 and problems[0].line == 2 and problems[0].path.endswith("Info.txt")
    assert "mdb002" in problems[0].reason and "no local annotation" in problems[0].reason
    assert by["mdb002"].weak_label == WeakLabel(1, None) and by["mdb002"].lesions == ()
    assert by["mdb002"].unlocated == ("CIRC M",) and "refused" in by["mdb002"].notes[0]
    assert len(by["mdb001"].lesions) == 1 and len(by["mdb003"].lesions) == 1  # real extremes pass


@pytest.mark.parametrize("rows, weak", [
    ("mdb001 G CIRC B 535 425 30\nmdb001 G SPIC X 500 400 20\n", WeakLabel(None, 1)),
    ("mdb001 G CIRC M 535 425 30\nmdb001 G SPIC ? 500 400 20\n", WeakLabel(1, None)),
    ("mdb001 G CALC\n", WeakLabel(None, None)),
])
def test_a_finding_of_unreadable_severity_makes_the_label_unknown(tmp_path, rows, weak):
    """Dropping the row labelled an image with a benign row and a garbled one "no malignancy"."""
    records, problems = load_minimias(_mias(tmp_path, rows.encode(), refs=(1,)))
    assert records[0].weak_label == weak
    assert [p.line for p in problems] == [rows.count("\n")] and "without severity" in problems[0].reason


def test_circle_plausibility_rule():
    assert inside_fraction(500, 500, 100, 1024, 1024) == pytest.approx(1.0, abs=1e-3)
    assert inside_fraction(0, 500, 100, 1024, 1024) == pytest.approx(0.5, abs=1e-3)
    assert inside_fraction(0, 0, 100, 1024, 1024) == pytest.approx(0.25, abs=1e-3)
    assert implausible_circle(127, 505, 123, 1024, 1024) is None  # mdb274, 4 px from the edge
    assert implausible_circle(30, 500, 150, 1024, 1024) is None  # 37 % of the area outside: kept
    assert "mostly outside" in implausible_circle(20, 20, 200, 1024, 1024)  # ~70 % outside
    assert "half" in implausible_circle(300, 300, 260, 1024, 512)  # a 512-high image


# ---------------------------------------------------------------- byte-order marks


@pytest.mark.parametrize("tail", [b"", b"Notes: caf\xe9\n"], ids=["utf8", "latin1"])
def test_minimias_bom_does_not_hide_first_row(tmp_path, tail):
    info = BOM + b"mdb001 G CIRC M 535 425 97\n" + tail
    records, problems = load_minimias(_mias(tmp_path, info, refs=(1,)))
    assert problems == [] and records[0].weak_label == WeakLabel(1, None) and len(records[0].lesions) == 1


def test_label_csv_bom_with_latin1_byte(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_bytes(BOM + b"image,patient_id,birads\na.png,Jos\xe9,4a\n")
    assert read_label_text(tmp_path / "labels.csv").startswith("image,")
    records, problems = load_label_csv(tmp_path / "labels.csv")
    assert problems == [] and records[0].patient_id == "José" and records[0].weak_label == WeakLabel(1, None)


# ---------------------------------------------------------------- INbreast: FIFOs and size caps

SQUARE = [(10, 10), (30, 10), (30, 30), (10, 30)]


def _inbreast(tmp_path: Path) -> Path:
    rows = [dict(name="1001", pid="a", lat="L", view="CC", birads="5"),
            dict(name="1002", pid="a", lat="R", view="CC", birads="4c")]
    return make_inbreast(tmp_path, rows, {"1001": [("Mass", SQUARE)], "1002": [("Mass", SQUARE)]})


@needs_fifo
def test_inbreast_fifo_xml_is_one_problem(tmp_path):
    root = _inbreast(tmp_path)
    fifo = root / "AllXML" / "1002.xml"
    fifo.unlink()
    os.mkfifo(fifo)
    with pytest.raises(LabelFileError, match="not a regular file"):
        _finishes(lambda: parse_roi_xml(fifo, LesionClass.MALIGNANT), fifo)
    records, problems = _finishes(lambda: load_inbreast(root), fifo)
    by = {r.file_name: r for r in records}
    assert set(by) == {"1001", "1002"} and len(by["1001"].lesions) == 1 and by["1002"].lesions == ()
    assert len(problems) == 1 and problems[0].path == str(fifo) and "not a regular file" in problems[0].reason


@needs_fifo
def test_fifo_label_csvs_refused(tmp_path):
    root = _inbreast(tmp_path)
    (root / "INbreast.csv").unlink()
    os.mkfifo(root / "INbreast.csv")
    with pytest.raises(LabelFileError, match="not a regular file"):
        _finishes(lambda: load_inbreast(root), root / "INbreast.csv")
    os.mkfifo(tmp_path / "labels.csv")
    with pytest.raises(LabelFileError, match="not a regular file"):
        _finishes(lambda: load_label_csv(tmp_path / "labels.csv"), tmp_path / "labels.csv")


def test_inbreast_oversized_xml_is_one_problem(tmp_path, monkeypatch):
    root = _inbreast(tmp_path)
    monkeypatch.setattr(inbreast_module, "MAX_ROI_XML_BYTES", (root / "AllXML" / "1002.xml").stat().st_size - 1)
    (root / "AllXML" / "1001.xml").write_bytes(b"<plist><dict/></plist>")  # small: still read
    records, problems = load_inbreast(root)
    assert len(records) == 2 and len(problems) == 1
    assert problems[0].path.endswith("1002.xml") and "too large" in problems[0].reason
