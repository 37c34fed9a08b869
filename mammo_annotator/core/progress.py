"""Progress reporting and cancellation shared by every long operation (import, features, training).

A cancel token is any object with ``is_set()`` (``threading.Event`` works); workers check it
between steps and raise ``Cancelled``, so a stop never leaves half-written state behind.
"""

from __future__ import annotations

from typing import Callable, Protocol

from .errors import MammoError

ProgressFn = Callable[[int, int, str], None]  # (done, total, message)


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(MammoError):
    """The user stopped the operation; everything finished before the stop is kept."""


def check_cancel(token: CancelToken | None) -> None:
    if token is not None and token.is_set():
        raise Cancelled("stopped by the user")


def no_progress(done: int, total: int, message: str) -> None:
    """Default progress callback."""
