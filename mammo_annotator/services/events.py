"""A tiny publish/subscribe hub so the GUI can follow the data model without the model knowing Qt."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger(__name__)

Callback = Callable[..., Any]


class Events:
    """Named events; callbacks run in the emitting thread (Qt adapters marshal to the GUI thread).

    Event names used by the services: ``annotations_changed`` (image_id), ``image_changed``
    (image_id), ``images_imported`` (image_ids), ``model_activated`` (version_id),
    ``model_added`` (version_id).
    """

    def __init__(self) -> None:
        self._subs: dict[str, list[Callback]] = defaultdict(list)
        self._lock = threading.Lock()

    def connect(self, name: str, callback: Callback) -> None:
        with self._lock:
            self._subs[name].append(callback)

    def disconnect(self, name: str, callback: Callback) -> None:
        with self._lock:
            if callback in self._subs[name]:
                self._subs[name].remove(callback)

    def emit(self, name: str, **payload: Any) -> None:
        with self._lock:
            subs = list(self._subs[name])
        for cb in subs:
            try:
                cb(**payload)
            except Exception:  # a broken subscriber must not undo a committed edit
                log.exception("subscriber of %s failed", name)
