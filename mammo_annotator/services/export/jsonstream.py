"""Write a big JSON document piece by piece: a header object with arrays that are filled item by item.

``json.dump`` needs the whole document in memory; here only one item is, so a GeoJSON or COCO
file of a project with a hundred thousand contours costs no more memory than one of ten.
"""

from __future__ import annotations

import json
from typing import IO


class JsonStream:
    """Writes ``{header..., "name": [items...], ...}`` to an open text file, one item at a time."""

    def __init__(self, fh: IO[str], header: dict):
        self._fh = fh
        self._first_item = True
        self._in_array = False
        body = json.dumps(header, ensure_ascii=False)
        fh.write(body[:-1] if header else "{")
        self._needs_comma = bool(header)

    def open_array(self, name: str) -> None:
        self.close_array()
        self._fh.write(("," if self._needs_comma else "") + f"\n{json.dumps(name)}:[")
        self._in_array, self._first_item, self._needs_comma = True, True, True

    def item(self, obj: object) -> None:
        self._fh.write(("\n" if self._first_item else ",\n") + json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        self._first_item = False

    def close_array(self) -> None:
        if self._in_array:
            self._fh.write("\n]")
            self._in_array = False

    def close(self) -> None:
        self.close_array()
        self._fh.write("}\n")
