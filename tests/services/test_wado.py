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
