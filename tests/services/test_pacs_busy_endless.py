"""A PACS that is busy when a file is sent, or that pages a query for ever: real local HTTP servers
(the ``HostilePacs`` of test_dicomweb_hostile2). A retried STOW carries the whole file again; a
query is stopped at a cap, its rows so far used and the query and the cap named."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pydicom
import pytest

from mammo_annotator.core.errors import MammoError
from mammo_annotator.services import qido
from mammo_annotator.services.dicomweb import import_dicomweb
from mammo_annotator.services.stow import stow_files
from tests.services.export_helpers import write_mg_dicom
from tests.services.test_dicomweb_hostile2 import (  # noqa: F401 (fixtures)
    MULTIPART, answer, good_instance, multipart, pacs, project, uid)


def _confirmation(sop: str) -> bytes:
    return json.dumps({"00081199": {"vr": "SQ", "Value": [uid("00081155", sop)]}}).encode()


def _big_file(tmp_path, n: int):
    """An MG file over dicomweb_client's 1 MB chunk size: it is uploaded in chunks (a generator)."""
    path = write_mg_dicom(tmp_path / f"big{n}.dcm", n, 1024, 640)
    data = path.read_bytes()
    assert len(data) > 10**6
    return path, data, str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_a_stow_retried_after_a_busy_answer_sends_the_whole_file_again(pacs, tmp_path):
    """Before: dicomweb_client's retry posted the used-up upload generator: the PACS received an
    empty body (and refused it, for a reason that did not say it had been busy)."""
    path, data, sop = _big_file(tmp_path, 1)

    def busy_once(h):
        if len(pacs.bodies) == 1:
            answer(h, 503, "text/plain", b"busy, try again")
        elif data in pacs.bodies[-1]:
            answer(h, 200, "application/dicom+json", _confirmation(sop))
        else:
            answer(h, 400, "text/plain", b"no DICOM instance in the request")

    pacs.routes["POST"] = busy_once
    report = stow_files(pacs.url, [path])
    assert len(pacs.bodies) == 2
    assert data in pacs.bodies[1] and pacs.bodies[1] == pacs.bodies[0]  # the file, byte for byte, both times
    assert report.stored == [sop] and report.failed == []


def test_a_pacs_busy_every_time_gets_three_whole_uploads_then_that_file_fails(pacs, tmp_path):
    (busy, data, _), (fine, _, fine_sop) = _big_file(tmp_path, 2), _big_file(tmp_path, 3)

    def route(h):
        if data in pacs.bodies[-1]:
            answer(h, 503, "text/plain", b"busy")
        else:
            answer(h, 200, "application/dicom+json", _confirmation(fine_sop))

    pacs.routes["POST"] = route
    report = stow_files(pacs.url, [busy, fine])
    assert len(pacs.bodies) == 4 and all(data in body for body in pacs.bodies[:3])
    assert report.stored == [fine_sop]
    assert report.failed == [(str(busy), "HTTP 503: Service Unavailable")]


def _endless_studies(pacs, study: str, pages: list[tuple[int, int]]):
    """QIDO studies for ever: each page as many new studies as asked for, the real one first (each
    invented study has no series). After 200 pages it gives up with an error, so that a client
    without a cap fails instead of running the test for ever."""

    def route(h):
        query = parse_qs(urlsplit(h.path).query)
        limit, offset = int(query["limit"][0]), int(query.get("offset", ["0"])[0])
        pages.append((limit, offset))
        if len(pages) > 200:
            return answer(h, 500, "text/plain", b"gave up paging")
        uids = [study if offset + k == 0 else f"2.25.{offset + k}" for k in range(limit)]
        for fake in uids[1 if offset == 0 else 0:]:
            pacs.json(f"/studies/{fake}/series", [])
        answer(h, 200, "application/dicom+json", json.dumps([uid("0020000D", u) for u in uids]).encode())

    pacs.routes["/studies"] = route


def test_a_query_that_pages_for_ever_stops_at_the_cap_and_imports_what_came(pacs, project, tmp_path, monkeypatch):
    """Before: a PACS that brought new rows on every page kept the query going for ever."""
    monkeypatch.setenv("MAMMO_DICOMWEB_MAX_ROWS", "35")
    monkeypatch.setattr(qido, "QIDO_PAGE_ROWS", 10)
    study, series, sop, data = good_instance(tmp_path, 1)
    pacs.one_series(study, series, [sop])
    pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    pages: list[tuple[int, int]] = []
    _endless_studies(pacs, study, pages)
    report = import_dicomweb(project, pacs.url, since="2020-01-01")
    assert pages == [(10, 0), (10, 10), (10, 20), (6, 30)]  # the cap and one row past it
    assert len(report.imported) == 1  # the rows received are used
    (where, why), = report.failed
    assert where == "pacs:studies"
    assert f"for the query {pacs.url}/studies?ModalitiesInStudy=MG&StudyDate=20200101-: stopped after 35 rows" in why
    assert "MAMMO_DICOMWEB_MAX_ROWS" in why
    assert sum(p.startswith("/studies/2.25.") for p in pacs.seen) == 34  # every study kept was looked into


@pytest.mark.parametrize("value", ["1e5", "0", "-3", "lots"])
def test_a_bad_row_cap_is_named_before_the_pacs_is_asked(pacs, project, monkeypatch, value):
    monkeypatch.setenv("MAMMO_DICOMWEB_MAX_ROWS", value)
    with pytest.raises(MammoError, match=rf"MAMMO_DICOMWEB_MAX_ROWS='{value}': expected a positive whole number"):
        import_dicomweb(project, pacs.url)
    assert pacs.seen == []


def _studies(pacs, tmp_path, n: int) -> list[str]:
    """``n`` studies of one small mammogram each, served by ``pacs`` (their UIDs)."""
    studies = []
    for k in range(n):
        study, series, sop, data = good_instance(tmp_path, 1 + k)
        pacs.one_series(study, series, [sop])
        pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = \
            (lambda d: lambda h: answer(h, 200, MULTIPART, multipart(d)))(data)
        studies.append(study)
    return studies


def test_a_pacs_that_pages_fewer_rows_than_asked_is_read_to_the_end(pacs, project, tmp_path, monkeypatch):
    """A PACS whose own page size is below the one asked for (dcm4chee's and many others' QIDO
    limit) answers every page short: a short page is not the end, an empty one is. Before, the
    query stopped after its first page and the other studies were silently left out."""
    monkeypatch.setattr(qido, "QIDO_PAGE_ROWS", 10)
    studies = _studies(pacs, tmp_path, 7)
    pages: list[tuple[int, int]] = []

    def server_capped_at_three(h):
        query = parse_qs(urlsplit(h.path).query)
        limit, offset = int(query["limit"][0]), int(query.get("offset", ["0"])[0])
        pages.append((limit, offset))
        rows = studies[offset:offset + min(limit, 3)]
        answer(h, 200, "application/dicom+json", json.dumps([uid("0020000D", u) for u in rows]).encode())

    pacs.routes["/studies"] = server_capped_at_three
    report = import_dicomweb(project, pacs.url, since="2020-01-01")
    assert [offset for _, offset in pages] == [0, 3, 6, 7]  # the last, empty page ends the query
    assert len(report.imported) == 7 and report.failed == []


def test_a_query_with_exactly_as_many_rows_as_the_cap_is_not_said_to_be_cut(pacs, project, tmp_path, monkeypatch):
    """Before: a PACS with exactly ``cap`` matches was reported as one that 'kept sending rows'."""
    monkeypatch.setenv("MAMMO_DICOMWEB_MAX_ROWS", "4")
    monkeypatch.setattr(qido, "QIDO_PAGE_ROWS", 3)
    studies = _studies(pacs, tmp_path, 4)

    def four_studies(h):
        query = parse_qs(urlsplit(h.path).query)
        limit, offset = int(query["limit"][0]), int(query.get("offset", ["0"])[0])
        answer(h, 200, "application/dicom+json",
               json.dumps([uid("0020000D", u) for u in studies[offset:offset + limit]]).encode())

    pacs.routes["/studies"] = four_studies
    report = import_dicomweb(project, pacs.url, since="2020-01-01")
    assert len(report.imported) == 4 and report.failed == []


def test_a_busy_pacs_retry_after_is_honoured_within_a_bound(pacs, tmp_path):
    """A PACS that says when to come back (Retry-After: 2) gets its wait; before, the retry came
    after 0.5 s and met the same busy answer."""
    import time

    from mammo_annotator.services.stow import retry_after

    path, data, sop = _big_file(tmp_path, 4)
    sent_at: list[float] = []

    def busy_for_two_seconds(h):
        sent_at.append(time.monotonic())
        if len(sent_at) == 1:
            h.send_response(503)
            h.send_header("Retry-After", "2")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif sent_at[-1] - sent_at[0] >= 1.9:
            answer(h, 200, "application/dicom+json", _confirmation(sop))
        else:
            answer(h, 503, "text/plain", b"still busy")

    pacs.routes["POST"] = busy_for_two_seconds
    report = stow_files(pacs.url, [path])
    assert report.stored == [sop] and len(sent_at) == 2
    assert retry_after("3600", 0.5) == 10.0 and retry_after("Wed, 21 Oct 2026 07:28:00 GMT", 0.5) == 0.5
    assert retry_after("-4", 0.5) == 0.0 and retry_after(None, 1.0) == 1.0 and retry_after("nan", 1.0) == 1.0
