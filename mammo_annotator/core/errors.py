"""Errors that carry the file and the reason, so every layer can report bad input plainly."""

from __future__ import annotations


class MammoError(Exception):
    """Base of the project's expected errors (shown to users as is)."""


class ImageReadError(MammoError):
    """An image file could not be read; names the file and why."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class LabelFileError(MammoError):
    """A label file (CSV, Info.txt, XML) is malformed; names the file, line and reason."""

    def __init__(self, path: object, reason: str, line: int | None = None, image: object | None = None):
        self.path = str(path)
        self.reason = reason
        self.line = line
        self.image = image  # the image a bad row names: held back, so a corrected file can still label it
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class InvalidContourError(MammoError):
    """A contour cannot be stored as drawn (degenerate, outside the image...)."""
