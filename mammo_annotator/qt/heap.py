"""Keep Python's cyclic garbage collector from freezing the window.

The app holds half a million long-lived objects once torch, pyqtgraph and SQLAlchemy are
loaded. Each full collection walks all of them, and a full collection in the GUI thread
took 120-250 ms: the longest event-loop stalls measured while annotating. Objects that live
as long as the app (modules, classes, the window) are moved to the permanent generation once
they exist, so a collection only walks what the session itself created since.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def freeze_long_lived(reason: str) -> int:
    """Exclude every object alive now from future collections; returns how many are frozen.

    Called when a large set of permanent objects has just been built (the window, the torch
    import). Garbage alive at that moment is kept for good, so it is called at moments that
    create little of it, and only a few times per process.
    """
    gc.freeze()
    n = gc.get_freeze_count()
    log.debug("froze %d long-lived objects (%s)", n, reason)
    return n


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection while a large import builds permanent objects (it makes little
    garbage); restores the collector's previous state."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
