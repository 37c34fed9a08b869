"""One WADO-RS answer, streamed to disk and cut to its DICOM part.

dicomweb_client reads an instance's whole answer into memory; a PACS (or a proxy in front of
it) that sends gigabytes, an HTML page, or a multipart body cut short must instead be refused
with what it sent, and never fill memory. Nothing here knows the project or the PACS error type:
``AnswerError`` says what is wrong with the answer, the caller names the PACS.
"""

from __future__ import annotations

import io
import mmap
import time
from pathlib import Path

ACCEPT_AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
# a DICOM file's elements are 32-bit: nothing larger is a single instance
MAX_INSTANCE_BYTES = 4 * 1024**3
RETRY_STATUS = (429, 503, 504)  # a PACS busy for a moment: asked again (as dicomweb_client does for queries)


class AnswerError(ValueError):
    """The answer is not one DICOM instance: the message says what it is instead."""


def download(session, url: str, dest: Path, timeout: tuple[float, float]) -> str:
    """GET ``url`` into ``dest`` in chunks (retrying a busy PACS) within a total deadline
    (``http_deadline``: a PACS that trickles its answer is stopped); returns the answer's content
    type. HTTP errors are raised as requests raises them."""
    from . import http_deadline

    try:
        with http_deadline.Transfer(url) as transfer:
            for attempt in range(3):
                response = session.get(url, headers={"Accept": ACCEPT_AS_STORED}, stream=True, timeout=timeout)
                if response.status_code not in RETRY_STATUS or attempt == 2:
                    break
                response.close()
                time.sleep(0.5 * 2 ** attempt)
            with response:
                response.raise_for_status()
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_INSTANCE_BYTES:
                    raise AnswerError(f"the PACS announced {int(declared)} bytes for one instance (more than "
                                      f"{MAX_INSTANCE_BYTES}); refused")
                size = 0
                with open(dest, "wb") as f:
                    for chunk in http_deadline.chunks(response, transfer):
                        size += len(chunk)
                        if size > MAX_INSTANCE_BYTES:
                            raise AnswerError(f"the PACS sent more than {MAX_INSTANCE_BYTES} bytes for one instance; refused")
                        f.write(chunk)
                return response.headers.get("Content-Type", "")
    except http_deadline.TooSlow as exc:
        raise AnswerError(exc.reason) from None


def dicom_part(raw: Path, content_type: str) -> tuple[int, int]:
    """(start, end) of the DICOM instance in a saved answer: the first part of a multipart/related
    body, or the whole body of a bare application/dicom answer."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    size = raw.stat().st_size
    if size == 0:
        raise AnswerError("the PACS sent an empty answer instead of the instance")
    if media == "application/dicom":
        return 0, size
    with open(raw, "rb") as f:
        head = f.read(80)
    boundary = next((v.strip().strip('"') for k, _, v in (p.partition("=") for p in params.split(";"))
                     if k.strip().lower() == "boundary"), None)
    if media == "multipart/related" and not boundary and head.startswith(b"--") and b"\n" in head:
        boundary = head[2:head.index(b"\n")].rstrip(b"\r").decode("latin-1")  # left out of the header: the body's first line
    if media != "multipart/related" or not boundary:
        raise AnswerError(f"the PACS did not send a DICOM instance (Content-Type {content_type or 'missing'!r}, "
                          f"the answer begins {head!r})")
    with open(raw, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return _first_part(m, b"--" + boundary.encode("latin-1"), boundary)


MAX_PART_HEADER_BYTES = 64 * 1024
_LINE_BREAKS = (b"\r\n", b"\n")


def _delimiter_at(m, pos: int, marker: bytes) -> bool:
    """``marker`` at ``pos`` is a whole boundary delimiter: followed by "--" (the close) or by a
    line break after optional blanks (RFC 2046 transport padding), not by more boundary characters."""
    rest = m[pos + len(marker):pos + len(marker) + 80].lstrip(b" \t")
    return rest.startswith(b"--") or rest.startswith(_LINE_BREAKS)


def _first_part(m, marker: bytes, boundary: str) -> tuple[int, int]:
    """(start, end) of the first part's content. Its lines may end in CRLF (RFC 2046) or a bare
    LF (servers in the field send that); a part not closed by a whole delimiter is cut short."""
    first = m.find(marker)
    while first >= 0 and not ((first == 0 or m[first - 1:first] == b"\n") and _delimiter_at(m, first, marker)):
        first = m.find(marker, first + 1)  # a delimiter starts a line
    line_end = m.find(b"\n", first) if first >= 0 else -1
    if line_end < 0:
        raise AnswerError(f"the PACS's multipart answer is broken (no part opened by its boundary {boundary!r})")
    crlf = m[line_end - 1:line_end] == b"\r"  # the answer's line ending, as its first delimiter shows it
    start = line_end + 1
    while True:  # the part's header lines, up to an empty one
        eol = m.find(b"\n", start, start + MAX_PART_HEADER_BYTES)
        if eol < 0:
            if len(m) - start < MAX_PART_HEADER_BYTES:
                raise AnswerError("the PACS's multipart answer is cut short (in the headers of its part): incomplete transfer")
            raise AnswerError(f"the PACS's multipart answer is broken (a part header line longer than {MAX_PART_HEADER_BYTES} bytes)")
        line, start = m[start:eol], eol + 1
        if line in (b"", b"\r"):
            break
    end = m.find(b"\n" + marker, start - 1)
    while end >= 0 and not _delimiter_at(m, end + 1, marker):
        end = m.find(b"\n" + marker, end + 1)
    if end < 0:
        raise AnswerError(f"the PACS's multipart answer is cut short (the part is not closed by its boundary "
                          f"{boundary!r}): incomplete transfer")
    if crlf and end > start and m[end - 1:end] == b"\r":
        end -= 1  # the CR of the delimiter's CRLF
    return start, max(start, end)


class Window(io.RawIOBase):
    """``length`` bytes of an open file from its current position, as a file of their own (pydicom
    reads to the end of what it is given)."""

    def __init__(self, f, length: int):
        self.f, self.start, self.length = f, f.tell(), length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.f.tell() - self.start

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self.tell() + offset, 2: self.length + offset}[whence]
        self.f.seek(self.start + max(0, min(target, self.length)))
        return self.tell()

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.length - self.tell())
        if n <= 0:
            return 0
        data = self.f.read(n)
        buffer[:len(data)] = data
        return len(data)
