"""Whether a WAL-mode project can be read where its ``-shm`` file cannot be made (a read-only disk,
share or folder), and whether reading it there would miss committed changes.

SQLite needs ``<db>-shm`` to read a WAL database; where that file is absent and cannot be created,
only ``immutable=1`` opens it, and that reads the database file alone, ignoring the ``-wal``. That
is exact when the ``-wal`` holds nothing the file lacks (absent, empty, stale, or already
checkpointed); otherwise the project would be shown without its last committed changes. This
module reads the ``-wal`` as SQLite's recovery does (header, salts, cumulative checksums, commit
frames; https://sqlite.org/fileformat2.html#walformat) and compares each committed page with the
database file.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums in little- / big-endian words
WAL_HEADER = 32
FRAME_HEADER = 24
DB_HEADER = 100


@dataclass(frozen=True)
class WalContent:
    """What the ``-wal`` adds to the database file: committed transactions, and how many of the
    pages they wrote differ from the file (0: the file already holds all of it)."""

    transactions: int
    pages: int
    missing_pages: int

    @property
    def complete_without_wal(self) -> bool:
        return self.missing_pages == 0


def is_wal_mode(db_path: str | os.PathLike) -> bool:
    """The database header says WAL (read and write versions 2). Same caveat as ``wal_content``."""
    with _reader(Path(db_path)) as read:
        header = read(0, DB_HEADER)
    return len(header) == DB_HEADER and header[18] == 2 and header[19] == 2


def wal_content(db_path: str | os.PathLike) -> WalContent:
    """The committed content of ``<db>-wal`` that the database file lacks.

    Only for a file no connection of this process holds SQLite locks on (closing a descriptor of
    it would drop them): called when SQLite itself could not open it.
    """
    db_path = Path(db_path)
    wal = Path(f"{db_path}-wal")
    try:
        data = wal.read_bytes()  # SQLite never locks the -wal itself
    except FileNotFoundError:
        return WalContent(0, 0, 0)
    committed, transactions, page_size, db_pages = _committed_frames(data)
    if not committed:
        return WalContent(0, 0, 0)
    with _reader(db_path) as read:
        missing = sum(read((pgno - 1) * page_size, page_size) != data[offset:offset + page_size]
                      for pgno, offset in committed.items())
    if db_path.stat().st_size != db_pages * page_size:
        missing = max(missing, 1)  # not (yet) truncated or grown to the size of the last commit
    return WalContent(transactions, len(committed), missing)


def _committed_frames(data: bytes) -> tuple[dict[int, int], int, int, int]:
    """page number -> offset of its last committed content in ``data``; the transactions; the page
    size; the database's size in pages after the last commit. Stops at the first frame SQLite's
    recovery would reject (another salt, a wrong checksum)."""
    nothing: tuple[dict[int, int], int, int, int] = ({}, 0, 0, 0)
    if len(data) < WAL_HEADER:
        return nothing
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:WAL_HEADER])
    if magic not in WAL_MAGIC or page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return nothing
    order = ">" if magic & 1 else "<"
    if _checksum(data[:24], order, 0, 0) != (c1, c2):
        return nothing
    s = (c1, c2)
    pending: dict[int, int] = {}
    committed: dict[int, int] = {}
    transactions = size = 0
    pos = WAL_HEADER
    while pos + FRAME_HEADER + page_size <= len(data):
        pgno, db_pages, f_salt1, f_salt2, f1, f2 = struct.unpack(">6I", data[pos:pos + FRAME_HEADER])
        if pgno == 0 or (f_salt1, f_salt2) != (salt1, salt2):
            break
        s = _checksum(data[pos:pos + 8], order, *s)
        s = _checksum(data[pos + FRAME_HEADER:pos + FRAME_HEADER + page_size], order, *s)
        if s != (f1, f2):
            break
        pending[pgno] = pos + FRAME_HEADER
        if db_pages:  # a commit frame: every frame up to it is part of the database
            committed.update(pending)
            committed = {p: o for p, o in committed.items() if p <= db_pages}  # a commit may shrink it
            pending, size = {}, db_pages
            transactions += 1
        pos += FRAME_HEADER + page_size
    return committed, transactions, page_size, size


def _checksum(chunk: bytes, order: str, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{order}{len(chunk) // 4}I", chunk)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


@contextlib.contextmanager
def _reader(path: Path) -> Iterator[Callable[[int, int], bytes]]:
    """read(offset, size) on one descriptor of ``path``, closed at the end."""
    fd = os.open(path, os.O_RDONLY)
    try:
        yield lambda offset, size: os.pread(fd, size, offset)
    finally:
        os.close(fd)
