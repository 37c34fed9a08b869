"""Which pixel spacings a mammogram can have: a header's spacing is believed only when it can be.

The spacing sets the scale of everything downstream: millimetre windows become pixel windows,
and the pretrained extractor resamples the image to 0.2 mm. A wrong spacing in a header (5 mm
instead of 0.05, or infinity) would make windows a few pixels wide, hundreds of thousands of
them per image, and ask for a work image of billions of pixels. A mammogram's field of view is
at most about 24 x 30 cm (43 cm on the largest detectors), and no detector samples finer than
about 25 microns, so a spacing that puts the image outside these bounds is a header error: the
image is imported with its spacing unknown, and a warning says why.
"""

from __future__ import annotations

import math

MIN_SPACING_MM = 0.01  # 10 microns: finer than any mammography detector or film scanner
MAX_FIELD_MM = 500.0  # an image larger than 50 cm on a side is no mammogram


def implausible_spacing(spacing_mm: tuple[float, float], width: int, height: int) -> str | None:
    """Why (row, column) spacing ``spacing_mm`` cannot be that of a ``width`` x ``height`` px
    mammogram, or None when it can be."""
    row, col = (float(v) for v in spacing_mm)
    if not (math.isfinite(row) and math.isfinite(col)):
        return "is not a finite number"
    if min(row, col) < MIN_SPACING_MM:
        return f"is finer than {MIN_SPACING_MM:g} mm"
    across, down = col * width, row * height
    if max(across, down) > MAX_FIELD_MM:
        return (f"would make the image {_cm(across)} x {_cm(down)} cm, larger than any mammogram "
                f"({MAX_FIELD_MM / 10:.0f} cm)")
    return None


def _cm(mm: float) -> str:
    """Centimetres for a message: whole numbers, or the exponent form for an absurd header value
    (1e300 mm printed in full is a 300-digit warning in the import report)."""
    return f"{mm / 10:.0f}" if mm < 1e9 else f"{mm / 10:.1e}"
