"""Label files read defensively: any encoding, any row, each problem named with its file and line.

Label CSVs come from spreadsheets and other tools: UTF-8 with or without BOM, Latin-1 / Windows
code pages, sometimes a binary file picked by mistake. A file that is not UTF-8 is read as
Latin-1 (every byte is a character there, so nothing is lost); a leading UTF-8 byte-order mark
is dropped either way. A binary file, one too large for a label table, or anything but a regular
file (a FIFO would block the reader forever) is refused. A row the csv module cannot parse (a
field longer than its limit, say) becomes one problem for that line, and the rows after it are
still read.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from pathlib import Path
from typing import Iterator

from ..errors import LabelFileError

MAX_LABEL_FILE_BYTES = 256 << 20  # ~ millions of rows; a bigger "label file" is something else
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|\Z)")


class LabelWarning(LabelFileError):
    """A label row only partly used (its lesion location unreadable or refused) while its image is
    still imported with the rest: a warning for the import report rather than a failure."""


def read_regular_file(path: str | Path, limit: int, what: str = "label file") -> bytes:
    """The bytes of ``path``, refused with a LabelFileError unless it is a regular file of at most
    ``limit`` bytes. Opened non-blocking and checked on the open descriptor, so a FIFO or device
    (even one swapped in after a check) is refused at once instead of hanging the import."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise LabelFileError(path, f"{what} not found") from None
    except IsADirectoryError:
        raise LabelFileError(path, f"is a folder, not a {what}") from None
    except OSError as exc:
        raise LabelFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise LabelFileError(path, f"is a folder, not a {what}" if stat.S_ISDIR(info.st_mode)
                             else f"not a regular file (a pipe, socket or device), not a {what}")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            raise LabelFileError(path, f"{_size(info.st_size)} is too large for a {what} (limit {_size(limit)})")
        try:  # the size it has, then whatever it grew by: no buffer of ``limit`` bytes for a small file
            data = f.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += f.read(limit + 1 - len(data))
        except OSError as exc:
            raise LabelFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limit:  # grew after the size check
        raise LabelFileError(path, f"too large for a {what} (limit {_size(limit)})")
    return data


def _size(n: int) -> str:
    """Bytes for humans: MiB for big files, bytes for small limits (tests, tiny caps)."""
    return f"{n / 2**20:.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_label_text(path: str | Path) -> str:
    """The file's text: UTF-8, else Latin-1; a leading UTF-8 BOM is dropped in both cases (a
    spreadsheet adds one, and a single non-UTF-8 byte later must not turn it into header text)."""
    data = read_regular_file(path, MAX_LABEL_FILE_BYTES)
    if b"\x00" in data[:1 << 16]:
        raise LabelFileError(path, "a binary file (NUL bytes), not a text label file (UTF-16 is not supported; "
                                   "save it as UTF-8)")
    return decode_label_bytes(data)


def decode_label_bytes(data: bytes) -> str:
    """UTF-8, else Latin-1 (every byte is a character, nothing lost); a leading UTF-8 BOM dropped."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def text_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time, each with its line break (CR LF, CR or LF; not the
    other breaks of ``str.splitlines``, such as Latin-1 0x85). Lazily, so that reading a big label
    file costs one line more than its text: ``io.StringIO`` held four bytes per character."""
    for m in _LINE.finditer(text):
        if m.group():
            yield m.group()


def first_line(text: str) -> str:
    """The first line of ``text`` that is not blank, without its line break ('' when none is)."""
    return next((line.rstrip("\r\n") for line in text_lines(text) if line.strip()), "")


def csv_rows(text: str, path: str | Path, delimiter: str = ",") -> Iterator[tuple[int, list[str] | LabelFileError]]:
    """(line, row) for every record of ``text``; a record the csv module refuses is yielded as a
    LabelFileError for its line instead, and reading goes on with the next. Strict: a quote never
    closed is that error (it used to swallow every later row into one field, unnoticed)."""
    reader = csv.reader(text_lines(text), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = (f"a quote opened on line {start} is never closed; the rows after it cannot be read"
                   if str(exc) == "unexpected end of data" else f"unreadable CSV row ({exc})")
            yield start, LabelFileError(path, why, start)
            continue
        yield reader.line_num, row


def data_rows(rows: Iterator[tuple[int, list[str] | LabelFileError]],
              problems: list[LabelFileError]) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of ``rows``; a record the csv module refused goes to ``problems``."""
    for line, row in rows:
        if isinstance(row, LabelFileError):
            problems.append(row)
        elif any(c.strip() for c in row):
            yield line, row
