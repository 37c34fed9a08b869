"""What Qt needs from the system before it starts, checked so the app says how to fix it instead
of aborting: on Linux with X11, Qt 6's xcb platform plugin needs libxcb-cursor0 (since Qt 6.5);
without it Qt prints a long plugin error and aborts."""

from __future__ import annotations

import ctypes.util
import os
import sys

XCB_CURSOR_FIX = "Qt needs libxcb-cursor0 to open a window: sudo apt-get install libxcb-cursor0"


def uses_xcb() -> bool:
    """Whether Qt will pick the X11 (xcb) platform plugin."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def missing_system_libraries(find=ctypes.util.find_library) -> list[str]:
    """The one-line fixes for what is missing (empty when nothing is)."""
    if not uses_xcb():
        return []
    return [] if find("xcb-cursor") else [XCB_CURSOR_FIX]


def check_or_exit() -> None:
    """Print the fix and exit with status 1 when Qt would abort."""
    problems = missing_system_libraries()
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        raise SystemExit(1)
