"""Panels that switch to shorter texts when they are given less width than their full texts need
(a small laptop or a remote session): the reading panel and the CAD marks panel share the rule."""

from __future__ import annotations


class CompactTexts:
    """Mixin for a QWidget with ``_set_texts(compact: bool)``, which sets ``self.compact``.
    ``fit_width`` measures the full texts once, with the widget's style applied, and switches only
    when the given width crosses that measure (``PanelScroll`` calls it on every resize)."""

    compact: bool = False
    _full_width: int | None = None  # the width the full texts need (measured once shown)

    def _set_texts(self, compact: bool) -> None:
        raise NotImplementedError

    def fit_width(self, width: int) -> None:
        if self._full_width is None:
            self.ensurePolished()  # the style sheet's fonts and paddings count
            compact = self.compact
            self._set_texts(False)
            self.layout().activate()
            self._full_width = self.minimumSizeHint().width()
            self._set_texts(compact)
        if (width < self._full_width) != self.compact:
            self._set_texts(width < self._full_width)
