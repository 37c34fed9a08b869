"""Label files read defensively: any encoding, any row, each problem named with its file and line.

Label CSVs come from spreadsheets and other tools: UTF-8 with or without BOM, Latin-1 / Windows
code pages, sometimes a binary file picked by mistake. A file that is not UTF-8 is read as
Latin-1 (every byte is a character there, so nothing is lost); a binary file or one
too large for a label table is refused. A row the csv module cannot parse (a field longer than
its limit, say) becomes one problem for that line, and the rows after it are still read.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from ..errors import LabelFileError

MAX_LABEL_FILE_BYTES = 256 << 20  # ~ millions of rows; a bigger "label file" is something else


def read_label_text(path: str | Path) -> str:
    """The file's text: UTF-8 (BOM allowed), else Latin-1."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(path, "label file not found" if not path.exists() else "is a folder, not a label file")
    try:
        size = path.stat().st_size
        if size > MAX_LABEL_FILE_BYTES:
            raise LabelFileError(path, f"{size / 2**20:.0f} MiB is too large for a label file "
                                       f"(limit {MAX_LABEL_FILE_BYTES >> 20} MiB)")
        data = path.read_bytes()
    except OSError as exc:
        raise LabelFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if b"\x00" in data[:1 << 16]:
        raise LabelFileError(path, "a binary file (NUL bytes), not a text label file (UTF-16 is not supported; "
                                   "save it as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def csv_rows(text: str, path: str | Path, delimiter: str = ",") -> Iterator[tuple[int, list[str] | LabelFileError]]:
    """(line, row) for every record of ``text``; a record the csv module refuses is yielded as a
    LabelFileError for its line instead, and reading goes on with the next."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, LabelFileError(path, f"unreadable CSV row ({exc})", reader.line_num)
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
