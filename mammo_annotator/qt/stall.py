"""Event-loop responsiveness probe: a 10 ms QTimer that records how late each tick arrives.

A tick that comes ``gap`` ms after the previous one means the GUI thread could not run for
about ``gap - interval`` ms (a stall). Used by the stall benchmark and the training tests.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class StallMeter(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.gaps_ms: list[float] = []
        self.labels: list[str] = []  # what was going on at each tick (e.g. the job's stage)
        self.label = ""
        self.detail = ""  # finer context, kept for the worst gaps only
        self.worst: list[tuple[float, float, str, str]] = []  # (gap ms, seconds since start, label, detail)
        self.worst_stalls: list[tuple[float, float, str, str]] = []  # the same, outside our own GUI actions
        self._excluded = False
        self._inside = False
        self._t0 = 0.0
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps_ms, self.labels, self.worst, self.worst_stalls = [], [], [], []
        self._t0 = self._last = time.perf_counter()
        self._timer.start()

    def exclude(self, inside: bool) -> None:
        """Mark our own GUI work (a gap overlapping it is labelled "gui action", not a stall)."""
        self._inside = inside
        self._excluded = self._excluded or inside

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = (now - self._last) * 1000
            label = "gui action" if self._excluded else self.label
            self.gaps_ms.append(gap)
            self.labels.append(label)
            self.worst = sorted([*self.worst, (gap, now - self._t0, label, self.detail)], reverse=True)[:5]
            if label != "gui action":
                self.worst_stalls = sorted([*self.worst_stalls, (gap, now - self._t0, label, self.detail)], reverse=True)[:5]
        self._excluded = self._inside
        self._last = now

    def worst_ms(self, label: str | None = None, skip: str = "gui action") -> float:
        gaps = [g for g, lab in zip(self.gaps_ms, self.labels) if (label is None and lab != skip) or lab == label]
        return max(gaps, default=0.0)

    def percentile_ms(self, q: float, label: str | None = None, skip: str = "gui action") -> float:
        gaps = sorted(g for g, lab in zip(self.gaps_ms, self.labels) if (label is None and lab != skip) or lab == label)
        return gaps[min(len(gaps) - 1, int(q / 100 * len(gaps)))] if gaps else 0.0
