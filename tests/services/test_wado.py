"""Cutting the DICOM part out of a saved WADO-RS answer: what a PACS sends in the field."""

from __future__ import annotations

import pytest

from mammo_annotator.services.wado import AnswerError, dicom_part

DICOM = b"\x00" * 128 + b"DICM" + b"payload\r\n--not-the-boundary"


def _saved(tmp_path, body: bytes):
    path = tmp_path / "answer.raw"
    path.write_bytes(body)
    return path


def test_the_part_between_the_boundaries_is_the_instance(tmp_path):
    body = b"preamble\r\n--b0\r\nContent-Type: application/dicom\r\n\r\n" + DICOM + b"\r\n--b0--\r\n"
    start, end = dicom_part(_saved(tmp_path, body), 'multipart/related; type="application/dicom"; boundary="b0"')
    assert body[start:end] == DICOM


def test_a_boundary_left_out_of_the_header_is_read_from_the_body(tmp_path):
    """dicomweb_client returned such an answer as it was; refusing it would be a regression."""
    body = b"--b1\r\nContent-Type: application/dicom\r\n\r\n" + DICOM + b"\r\n--b1--\r\n"
    start, end = dicom_part(_saved(tmp_path, body), "multipart/related; type=application/dicom")
    assert body[start:end] == DICOM


def test_a_bare_instance_is_the_whole_body_and_an_empty_one_is_named(tmp_path):
    assert dicom_part(_saved(tmp_path, DICOM), "application/dicom") == (0, len(DICOM))
    with pytest.raises(AnswerError, match="empty answer"):
        dicom_part(_saved(tmp_path, b""), "application/dicom")


def test_an_html_page_is_named_with_its_first_bytes(tmp_path):
    with pytest.raises(AnswerError, match=r"did not send a DICOM instance .*text/html.*<html>"):
        dicom_part(_saved(tmp_path, b"<html>login</html>"), "text/html; charset=utf-8")


def test_bare_lf_line_breaks_are_read_and_a_final_cr_of_the_instance_kept(tmp_path):
    """Before: 'cut short' (only CRLF was looked for). In an LF-only answer a CR ending the
    instance is its own byte, not half of a line break."""
    instance = DICOM + b"\r"
    body = b"--b0\nContent-Type: application/dicom\nContent-Length: 9\n\n" + instance + b"\n--b0--\n"
    start, end = dicom_part(_saved(tmp_path, body), 'multipart/related; type="application/dicom"; boundary=b0')
    assert body[start:end] == instance


def test_an_lf_only_boundary_left_out_of_the_header_is_read_from_the_body(tmp_path):
    body = b"--b1\nContent-Type: application/dicom\n\n" + DICOM + b"\n--b1--"
    start, end = dicom_part(_saved(tmp_path, body), "multipart/related; type=application/dicom")
    assert body[start:end] == DICOM


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_longer_boundary_inside_the_instance_does_not_end_it(tmp_path, newline):
    """Before: a line starting with the boundary's text ('--b0' of '--b0x') ended the part there."""
    instance = DICOM + newline + b"--b0x is pixel data" + newline + b"more"
    body = b"--b0" + newline + b"Content-Type: application/dicom" + newline * 2 + instance + newline + b"--b0--" + newline
    start, end = dicom_part(_saved(tmp_path, body), "multipart/related; boundary=b0")
    assert body[start:end] == instance


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("cut", [4, 40, 200], ids=["in-close-delimiter", "in-instance", "in-part-headers"])
def test_a_truncated_answer_is_named_cut_short(tmp_path, newline, cut):
    body = b"--b0" + newline + b"Content-Type: application/dicom" + newline * 2 + DICOM + newline + b"--b0--" + newline
    with pytest.raises(AnswerError, match="cut short.*incomplete transfer"):
        dicom_part(_saved(tmp_path, body[:len(body) - cut]), "multipart/related; boundary=b0")
