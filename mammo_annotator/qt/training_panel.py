"""The Training dock: Retrain / Stop, the auto-retrain setting, and what the running job is doing.

Pure display: it receives job states and progress (already in the GUI thread) and emits the
user's requests. Remaining time is the current stage's rate extrapolated, plus the later stages'
durations from the previous job when known.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGridLayout, QGroupBox, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

if TYPE_CHECKING:  # services.jobs loads torch; the panel only reads a job's fields
    from ..services.jobs import Job
from .theme import BLUISH_GREEN, ORANGE, SKY_BLUE, VERMILLION

STAGES = ("backbone", "features", "train", "validate", "store")
HEADS_ONLY, REFRESH = "keep", "refresh"
_LOSS = re.compile(r"loss\s+([-+0-9.eE]+|nan|inf)", re.IGNORECASE)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(max(0.0, seconds)))
    return f"{s // 60}:{s % 60:02d}"


def outcome_text(job: Job, active_before: int | None = None) -> tuple[str, str]:
    """(text, colour) describing how a finished job ended."""
    n = f"Job #{job.id}"
    if job.started is None:
        return f"Queued job #{job.id} ({job.reason}) dropped.", ORANGE
    if job.state.value == "error":
        keep = f" Model v{active_before} stays active." if active_before else " The previous model stays active."
        return f"{n} failed: {job.error}.{keep}", VERMILLION
    o = job.outcome
    if job.state.value == "stopped" or (o is not None and o.state == "cancelled"):
        return f"{n} stopped; the previous model stays active.", ORANGE
    if o is None:
        return f"{n}: {job.state.value}", SKY_BLUE
    what = "backbone refreshed, " if o.metrics.get("backbone") == REFRESH else "heads only, "
    took = f" ({what}{o.seconds:.0f} s)"
    why = comparison_text(o.metrics, active_before)
    if o.activated:
        return f"{n}: model v{o.version_id} activated: {why}{took}.", BLUISH_GREEN
    if o.state == "worse":
        return f"{n}: v{o.version_id} kept in the history, not activated: {why}{took}.", ORANGE
    if o.state == "diverged":
        return f"{n}: v{o.version_id} diverged ({o.message}): kept in the history, not activated{took}.", VERMILLION
    return f"{n}: v{o.version_id} {o.message}{took}.", SKY_BLUE


def comparison_text(metrics: dict, active_before: int | None) -> str:
    """Why a version was (not) activated, in the numbers the decision used: both validation
    losses on the same validation images."""
    new, old, n = metrics.get("val_loss"), metrics.get("active_val_loss"), metrics.get("n_val_images")
    if new is None or not n:
        return "no validation patients yet, so nothing to compare"
    images = f"the same {n} validation image{'s' if n != 1 else ''}"
    if old is None:
        if active_before is None:
            return f"the first model, validation loss {new:.3f} on {n} validation images"
        return f"validation loss {new:.3f}; v{active_before} could not be scored on {images} (its features are gone)"
    against = f"v{active_before}" if active_before is not None else "the active model"
    return f"validation loss {new:.3f} vs {old:.3f} for {against} on {images}"


class TrainingPanel(QWidget):
    retrainRequested = Signal()
    stopRequested = Signal()
    autoChanged = Signal(int)  # 0 = off

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.stage: str | None = None
        self._remaining: float | None = None
        self._stage_t0: dict[str, float] = {}
        self._last_durations: dict[str, float] = {}
        self.losses: list[float] = []
        self._stages: tuple[str, ...] = STAGES[1:]
        self._tick = QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self._update_times)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(6)
        lay.addLayout(self._controls())
        lay.addWidget(self._progress_box(), 1)
        self.outcome = QLabel("No training run in this session yet.")
        self.outcome.setObjectName("muted")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.outcome)
        self.show_idle()

    # layout ---------------------------------------------------------------------------------
    def _controls(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.retrain = QPushButton("Retrain now")
        self.retrain.setObjectName("primary")
        self.retrain.setToolTip("Train a new model version on the current labels and contours (Ctrl+R)")
        self.retrain.clicked.connect(self.retrainRequested.emit)
        self.stop = QPushButton("Stop")
        self.stop.setToolTip("Cancel the running job and drop the queued one; the active model stays (Ctrl+.)")
        self.stop.clicked.connect(self._on_stop)
        self.auto_on = QCheckBox("Auto-retrain after")
        self.auto_on.setToolTip("Start a warm-started retrain by itself once this many images were newly annotated")
        self.auto_n = QSpinBox()
        self.auto_n.setRange(1, 500)
        self.auto_n.setValue(5)
        self.auto_n.setMaximumWidth(64)
        self.auto_on.setChecked(True)
        self.auto_on.toggled.connect(self._emit_auto)
        self.auto_n.valueChanged.connect(self._emit_auto)
        self.pending = QLabel("")
        self.pending.setObjectName("muted")
        self.scope = QComboBox()
        self.scope.addItem("Heads only (seconds)", HEADS_ONLY)
        self.scope.addItem("Refresh backbone + heads (minutes)", REFRESH)
        self.scope.setToolTip("What 'Retrain now' trains: the proposal heads on the cached features, or first the "
                              "project's own feature backbone with the contours drawn so far. Auto-retrain trains "
                              "the heads only.")
        grid.addWidget(self.retrain, 0, 0)
        grid.addWidget(self.stop, 0, 1)
        grid.addWidget(self.auto_on, 0, 3)
        grid.addWidget(self.auto_n, 0, 4)
        grid.addWidget(QLabel("images"), 0, 5)
        grid.setColumnMinimumWidth(2, 10)
        grid.setColumnStretch(6, 1)
        self.scope.currentIndexChanged.connect(lambda *_: self.job is None and self.show_idle())
        grid.addWidget(self.scope, 1, 0, 1, 2)
        grid.addWidget(self.pending, 1, 3, 1, 4)
        return grid

    def backbone_choice(self) -> str:
        """"keep" (heads only) or "refresh" (backbone, then heads) for the next manual retrain."""
        return str(self.scope.currentData())

    def _progress_box(self) -> QGroupBox:
        box = QGroupBox("Current job")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(3)
        self.title = QLabel("")
        self.title.setObjectName("value")
        self.stages = QLabel("")
        self.stages.setTextFormat(Qt.RichText)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.detail = QLabel("")
        self.times = QLabel("")
        self.times.setObjectName("muted")
        self.queued = QLabel("")
        self.queued.setObjectName("muted")
        self.loss_plot = pg.PlotWidget(background="#1a1b1e")
        self.loss_plot.setMinimumSize(180, 90)
        self.loss_plot.setMenuEnabled(False)
        self.loss_plot.setMouseEnabled(False, False)
        self.loss_plot.hideButtons()
        self.loss_plot.getPlotItem().setTitle("loss per epoch", color="#8b8f96", size="8pt")
        for axis in ("left", "bottom"):
            self.loss_plot.getAxis(axis).setTextPen("#8b8f96")
            self.loss_plot.getAxis(axis).setPen("#3a3d42")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(SKY_BLUE, width=1.5), symbol="o", symbolSize=4,
                                              symbolBrush=SKY_BLUE, symbolPen=None)
        for row, w in enumerate((self.title, self.stages, self.bar, self.detail, self.times, self.queued)):
            grid.addWidget(w, row, 0)
        grid.setRowStretch(6, 1)
        grid.addWidget(self.loss_plot, 0, 1, 7, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        return box

    # user -------------------------------------------------------------------------------------
    def _on_stop(self) -> None:
        self.stop.setEnabled(False)
        self.detail.setText("stopping after the current step…")
        self.stopRequested.emit()

    def _emit_auto(self, *_a) -> None:
        self.auto_n.setEnabled(self.auto_on.isChecked())
        self.autoChanged.emit(self.auto_n.value() if self.auto_on.isChecked() else 0)

    def set_auto(self, n: int | None) -> None:
        """Show the stored setting without emitting it back."""
        for w in (self.auto_on, self.auto_n):
            w.blockSignals(True)
        self.auto_on.setChecked(bool(n))
        if n:
            self.auto_n.setValue(int(n))
        self.auto_n.setEnabled(bool(n))
        for w in (self.auto_on, self.auto_n):
            w.blockSignals(False)

    def set_pending(self, count: int, auto: int | None) -> None:
        self.pending.setText(f"{count} of {auto} newly annotated since the last job" if auto else
                             f"{count} newly annotated since the last job (auto off)")

    # job display ----------------------------------------------------------------------------
    def show_idle(self) -> None:
        self._tick.stop()
        self._stages = STAGES if self.backbone_choice() == REFRESH else STAGES[1:]
        self.title.setText("Idle")
        self.stages.setText(self._stage_html(None))
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.detail.setText("")
        self.times.setText("")
        self.stop.setEnabled(False)

    def show_state(self, job: Job, state: str, queued: Job | None = None) -> None:
        if state == "running":
            if self.job is not job:
                self._begin(job)
        self.queued.setText(f"Queued: job #{queued.id} ({queued.reason})" if queued is not None else "")
        self.stop.setEnabled(state == "running" or queued is not None)

    def _begin(self, job: Job) -> None:
        self.job, self.stage, self._stage_t0, self.losses, self._remaining = job, None, {}, [], None
        self.loss_curve.setData([], [])
        self.title.setText(f"Job #{job.id}: {job.reason}")
        self._stages = STAGES if job.request.backbone == REFRESH else STAGES[1:]
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.bar.setFormat("")
        self.detail.setText("starting…")
        self.stop.setEnabled(True)
        self._tick.start()
        self._update_times()

    def finish(self, job: Job, text: str, colour: str) -> None:
        """Show how ``job`` ended; the display is reset only if it was showing that job (the
        queued job may already be running and reporting)."""
        if self.job is job:
            if job.finished:
                t = [self._stage_t0.get(s) for s in STAGES] + [job.finished]
                for k, s in enumerate(STAGES):
                    if t[k] is not None:
                        nxt = next((x for x in t[k + 1:] if x is not None), job.finished)
                        self._last_durations[s] = nxt - t[k]
            self.job = None
            self.show_idle()
        self.outcome.setObjectName("")
        self.outcome.setStyleSheet(f"color: {colour};")
        self.outcome.setText(text)

    @Slot(object, str, int, int, str)
    def show_progress(self, job: Job, stage: str, done: int, total: int, message: str) -> None:
        if self.job is not job:
            self._begin(job)
        now = time.time()
        if stage != self.stage:
            self.stage = stage
            self._stage_t0[stage] = now
            self.stages.setText(self._stage_html(stage))
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))
        self.bar.setFormat(f"{stage}  {done}/{total}")
        if stage == "backbone":
            self.detail.setText(message)
        elif stage == "train":
            m = _LOSS.search(message)
            if m:
                try:
                    self.losses.append(float(m.group(1)))
                except ValueError:
                    pass
                self.loss_curve.setData(list(range(1, len(self.losses) + 1)), self.losses)
                self.detail.setText(f"epoch {done}/{total}    loss {m.group(1)}")
            else:
                self.detail.setText(message)
        else:
            self.detail.setText(message)
        self._remaining = self._estimate(stage, done, total, now)
        self._update_times()

    def _estimate(self, stage: str, done: int, total: int, now: float) -> float | None:
        later = self._stages[self._stages.index(stage) + 1:] if stage in self._stages else ()
        rest = sum(self._last_durations.get(s, 0.0) for s in later)
        if done <= 0 or total <= 0:
            return None
        rate = (now - self._stage_t0[stage]) / done
        return rate * (total - done) + rest

    def _update_times(self) -> None:
        if self.job is None or self.job.started is None:
            return
        elapsed = time.time() - self.job.started
        remaining = self._remaining if self.stage else None
        self.times.setText(f"elapsed {clock(elapsed)}    remaining ≈ {clock(remaining) if remaining is not None else 'estimating…'}")

    def _stage_html(self, current: str | None) -> str:
        parts = []
        seen = current is None
        for s in self._stages:
            if s == current:
                parts.append(f'<b style="color:{SKY_BLUE}">{s}</b>')
                seen = True
            else:
                parts.append(f'<span style="color:{"#6b6e74" if seen else "#aeb1b6"}">{s}</span>')
        return " › ".join(parts)
