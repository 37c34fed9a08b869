"""Label CSVs, Info.txt rows, ROI XMLs and contour coordinates that earlier rounds did not try:
duplicated header columns, a NUL past the sniffed start, a quote never closed, blank lines above
the header, a view too long for the database, a 20 MB line, an upper-case refnum, XML entities
(local files, the network, entity expansion) and coordinates near 1e308."""

from __future__ import annotations

import socket
import threading
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.contours import check_contour
from mammo_annotator.core.datasets.csvlabels import load_label_csv
from mammo_annotator.core.datasets.inbreast import parse_roi_xml
from mammo_annotator.core.datasets.minimias import load_minimias
from mammo_annotator.core.datasets.textfile import read_regular_file
from mammo_annotator.core.errors import InvalidContourError, LabelFileError
from mammo_annotator.core.types import LesionClass


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / f"{name}.png")
    return tmp_path


def _csv(folder: Path, data: bytes) -> Path:
    (folder / "labels.csv").write_bytes(data)
    return folder / "labels.csv"


# ---------------------------------------------------------------- label CSVs


@pytest.mark.parametrize("header", [b"image,patient_id,birads,birads", b"image,Image,patient_id,birads"])
def test_a_label_column_given_twice_refuses_the_file(images, header):
    """Which of two 'birads' columns holds the label is a guess; the last one used to win silently."""
    row = b"a.png,P1,1,5" if header.count(b"birads") == 2 else b"a.png,b.png,P1,1"
    with pytest.raises(LabelFileError, match="appears more than once in the header") as exc:
        load_label_csv(_csv(images, header + b"\n" + row + b"\n"))
    assert exc.value.line == 1 and exc.value.path == str(images / "labels.csv")


def test_a_nul_byte_past_the_sniffed_start_is_a_row_problem(images):
    """Only the first 64 KiB are sniffed for NULs; one further down reached the patient id (and
    PostgreSQL refused the image with a database error)."""
    filler = b"".join(b"b.png,P2,2\n" for _ in range(7000))  # over 64 KiB, all one image (agreeing rows)
    records, problems = load_label_csv(_csv(images, b"image,patient_id,birads\n" + filler + b"a.png,P\x001,1\nc.png,P3,1\n"))
    assert sorted(r.image_path.name for r in records) == ["b.png", "c.png"]
    assert [(p.line, p.reason) for p in problems] == [(7002, "the row holds a NUL byte (binary data, not text)")]
    assert problems[0].image == (images / "a.png").resolve()  # held back, not imported unlabelled


def test_a_quote_never_closed_is_named_at_its_line(images):
    """The open quote swallowed every later row into one field, reported as 'empty patient_id'."""
    records, problems = load_label_csv(_csv(images, b'image,patient_id,birads\na.png,P1,1\n"b.png,P2,2\nc.png,P3,1\n'))
    assert [r.image_path.name for r in records] == ["a.png"]
    assert [(p.line, p.reason) for p in problems] == [
        (3, "a quote opened on line 3 is never closed; the rows after it cannot be read")]


def test_blank_lines_above_the_header_are_skipped(images):
    records, problems = load_label_csv(_csv(images, b"\r\n\n  \nimage;patient_id;birads\na.png;P1;4c\n"))
    assert [(r.image_path.name, r.birads, r.line) for r in records] == [("a.png", "4c", 5)] and problems == []


def test_a_view_too_long_for_the_database_is_a_row_problem(images):
    """PostgreSQL's view column holds 16 characters: a longer view failed that image there only."""
    records, problems = load_label_csv(_csv(images, b"image,patient_id,birads,view\na.png,P1,1," + b"X" * 40 + b"\nb.png,P2,2,CC\n"))
    assert [(r.image_path.name, r.view) for r in records] == [("b.png", "CC")]
    assert [p.line for p in problems] == [2] and "longer than 16 characters" in problems[0].reason


def test_a_20_mb_line_costs_little_more_than_the_text(images):
    """io.StringIO held the text at four bytes per character: a 200 MB line took 1.2 GB."""
    path = _csv(images, b"image,patient_id,birads\na.png,P1,1\n" + b"x" * (20 << 20) + b"\nb.png,P2,2\n")
    tracemalloc.start()
    try:
        records, problems = load_label_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [r.image_path.name for r in records] == ["a.png", "b.png"]
    assert [p.line for p in problems] == [3] and "field larger than field limit" in problems[0].reason
    assert peak < 3 * (20 << 20), f"peak {peak >> 20} MiB to read a 20 MiB file"


def test_a_small_file_is_read_without_a_buffer_the_size_of_the_cap(tmp_path):
    (tmp_path / "small.csv").write_bytes(b"image,patient_id,birads\n")
    tracemalloc.start()
    try:
        data = read_regular_file(tmp_path / "small.csv", 256 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == b"image,patient_id,birads\n" and peak < 1 << 20, f"peak {peak >> 20} MiB for 24 bytes"


# ---------------------------------------------------------------- mini-MIAS


def test_an_upper_case_refnum_is_reported_not_skipped_as_prose(tmp_path):
    """'MDB002 ... CIRC M' was read as prose: the malignant finding vanished without a word."""
    (tmp_path / "Info.txt").write_bytes(b"mdb001 G NORM\nMDB002 G CIRC M 500 500 30\n")
    for n in (1, 2):
        Image.fromarray(np.zeros((1024, 1024), np.uint8)).save(tmp_path / f"mdb{n:03d}.png")
    records, problems = load_minimias(tmp_path)
    assert [r.refnum for r in records] == ["mdb001"]
    assert [(p.line, p.reason) for p in problems if p.line] == [(2, "unreadable row 'MDB002 G CIRC M 500 500 30'")]


# ---------------------------------------------------------------- INbreast ROI XML: entities


ROI = ("<plist version=\"1.0\"><dict><key>Images</key><array><dict><key>ROIs</key><array><dict><key>Name</key>"
       "<string>{name}</string><key>Point_px</key><array><string>(10, 10)</string><string>(60, 10)</string>"
       "<string>(60, 60)</string></array></dict></array></dict></array></dict></plist>")


@pytest.fixture
def listener():
    """A real local TCP server that counts the connections made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/x.dtd", hits
    stop.set()
    thread.join(2)
    server.close()


def test_roi_xml_entities_never_read_a_file_nor_the_network(tmp_path, listener):
    """plistlib refuses every entity declaration (expat alone would expand them); an external DTD
    is not fetched. No local file content and no connection, whatever the XML asks for."""
    url, hits = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    cases = {
        "file": head + f'<!DOCTYPE plist [ <!ENTITY x SYSTEM "{secret.as_uri()}"> ]>' + ROI.format(name="&x;"),
        "url": head + f'<!DOCTYPE plist [ <!ENTITY x SYSTEM "{url}"> ]>' + ROI.format(name="&x;"),
        "param": head + f'<!DOCTYPE plist [ <!ENTITY % p SYSTEM "{url}"> %p; ]>' + ROI.format(name="Mass"),
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.xml").write_text(text)
        with pytest.raises(LabelFileError, match="entity declarations are not supported") as exc:
            parse_roi_xml(tmp_path / f"{name}.xml", LesionClass.MALIGNANT)
        assert exc.value.path == str(tmp_path / f"{name}.xml") and "TOP-SECRET" not in str(exc.value)
    (tmp_path / "dtd.xml").write_text(head + f'<!DOCTYPE plist SYSTEM "{url}">' + ROI.format(name="Mass"))
    lesions, names, _ = parse_roi_xml(tmp_path / "dtd.xml", LesionClass.MALIGNANT)
    assert names == ["Mass"] and len(lesions) == 1
    assert hits == []


@pytest.mark.timeout(20)
def test_roi_xml_entity_expansion_is_refused_at_once(tmp_path):
    """'Billion laughs': ten levels of ten references would be 10^9 copies."""
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    text = f'<?xml version="1.0"?>\n<!DOCTYPE plist [ {" ".join(levels)} ]>' + ROI.format(name="&l9;")
    (tmp_path / "laughs.xml").write_text(text)
    tracemalloc.start()
    try:
        with pytest.raises(LabelFileError, match="entity declarations are not supported"):
            parse_roi_xml(tmp_path / "laughs.xml", LesionClass.MALIGNANT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


# ---------------------------------------------------------------- contour coordinates near the float limit


@pytest.mark.parametrize("points", [
    [[1e308, 1e308], [-1e308, 1e308], [1e308, -1e308]],
    [[-1e308, -1e308], [1e308, -1e308], [1e308, 1e308], [-1e308, 1e308]],  # "contains" the image: was "entirely outside"
    [[0, 0], [5e7, 0], [0, 5e7]],
])
def test_coordinates_far_beyond_any_image_are_refused_plainly(points):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in subtract" reached the CLI's stderr
        with pytest.raises(InvalidContourError, match="coordinates beyond 10,000,000 px"):
            check_contour(points, 256, 320)


def test_a_large_but_finite_contour_is_still_clipped():
    checked = check_contour([[-1e6, -1e6], [1e6, -1e6], [1e6, 1e6], [-1e6, 1e6]], 256, 320)
    assert checked.repairs == ("clipped to the image border",) and checked.polygon.bounds == (0.0, 0.0, 256.0, 320.0)
