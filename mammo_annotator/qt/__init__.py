"""The desktop app (PySide6 + pyqtgraph). Imported lazily: the command line never loads Qt."""

from __future__ import annotations

import sys


def _guard_none_refcount() -> None:
    """Work around a PySide6 6.12 binding bug on Python < 3.12.

    Its void methods return ``None`` without taking a reference (correct only since Python 3.12,
    where ``None`` is immortal), so every call such as ``setPen`` or ``processEvents`` drops
    one reference; after a few thousand calls CPython aborts with "none_dealloc: deallocating
    None". Giving ``None`` a practically infinite reference count makes it as immortal as it
    is on 3.12 (same for ``True``/``False``). A no-op on 3.12+.
    """
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for singleton in (None, True, False):  # bool arguments of signals leak the same way
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: first field of PyObject
        if refcnt.value < (1 << 40):
            refcnt.value += 1 << 42


_guard_none_refcount()
