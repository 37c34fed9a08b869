"""The desktop app (PySide6 + pyqtgraph). Imported lazily: the command line never loads Qt.

PySide6 6.12.0 returns ``None`` from void methods without taking a reference; on Python < 3.12
CPython aborts after a few thousand calls ("none_dealloc"). pyproject.toml therefore asks for
PySide6 < 6.12; the check below refuses to start on the broken combination instead of crashing
mid-annotation.
"""

from __future__ import annotations

import sys


def _refuse_broken_pyside() -> None:
    if sys.version_info >= (3, 12):
        return
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            v = version(dist)
        except PackageNotFoundError:
            continue
        if v.startswith("6.12."):
            raise ImportError(
                f"{dist} {v} corrupts reference counts on Python {sys.version_info[0]}.{sys.version_info[1]}; "
                "install PySide6-Essentials<6.12 (pip install 'PySide6-Essentials<6.12') or use Python 3.12+"
            )


_refuse_broken_pyside()
