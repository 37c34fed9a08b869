"""Find the breast: background, film labels / markers and (MLO) the pectoral muscle excluded.

Regions (method section 2) are only taken inside this mask, so it must keep the whole breast up
to the skin line and drop everything else. Everything runs on a block-averaged copy whose long
side is about 512 pixels (a 4664 x 3064 image takes well under a second), and the mask is
scaled back to full resolution at the end.

Steps: robust normalisation -> smoothing -> a threshold set low between the background level
and the Otsu level (the skin-line zone is dark) -> border artefacts cut -> opening (detaches
labels touching the breast) -> the largest component -> holes filled. For MLO views the
pectoral muscle is a bright wedge in the upper chest-wall corner bounded by a near-straight
edge: the line with the strongest bright-to-dark step across it is searched exhaustively, then
refined row by row to follow a slightly curved edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .morphology import close_disk, erode_disk, open_disk

WORK_SIZE = 512
MAX_PECTORAL_FRACTION = 0.33
MLO_VIEWS = {"MLO", "ML", "LMO", "LM", "SIO"}


@dataclass(frozen=True)
class BreastSegmentation:
    """The mask and what was learnt on the way (for overlays, laterality, debugging)."""

    mask: np.ndarray  # bool, full resolution
    chest_wall_side: str  # "left" | "right" (image side)
    pectoral: np.ndarray | None  # bool, full resolution; None when not removed
    scale: int  # block size of the working copy


# ---------------------------------------------------------------- helpers

def _downsample(pixels: np.ndarray, work_size: int = WORK_SIZE, band_rows: int = 64) -> tuple[np.ndarray, int]:
    """Block means, computed ``band_rows`` output rows at a time: the float copy of a band,
    never of the whole image (a 12,000 x 12,000 image would need 576 MB at once)."""
    # capped by the short side, so that a very elongated image keeps at least one row and column
    f = max(1, min(int(np.ceil(max(pixels.shape) / work_size)), min(pixels.shape)))
    h, w = (pixels.shape[0] // f) * f, (pixels.shape[1] // f) * f
    small = np.empty((h // f, w // f), dtype=np.float32)
    for r in range(0, h // f, band_rows):
        r1 = min(h // f, r + band_rows)
        band = pixels[r * f:r1 * f, :w].astype(np.float32)
        small[r:r1] = band.reshape(r1 - r, f, w // f, f).mean(axis=(1, 3))
    return small, f


def _upsample(mask: np.ndarray, f: int, shape: tuple[int, int]) -> np.ndarray:
    big = np.repeat(np.repeat(mask, f, axis=0), f, axis=1) if f > 1 else mask
    ph, pw = shape[0] - big.shape[0], shape[1] - big.shape[1]
    if ph or pw:
        big = np.pad(big, ((0, ph), (0, pw)), mode="edge")
    return big[: shape[0], : shape[1]]


def _normalise(small: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(small, [0.5, 99.8])
    return np.clip((small - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    mu_t = mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w0 - mu) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = 0
    return float(centres[int(np.argmax(between))])


def _largest_component(fg: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(fg)
    if n == 0:
        return fg
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _cut_border_strips(fg: np.ndarray, norm: np.ndarray, depth: int) -> np.ndarray:
    """Clear bright strips along the image border (film edges, scanner bars): lines within
    ``depth`` of a border that are foreground over nearly their whole length, and whose
    inner neighbours are not. The chest wall also touches a border, but the breast beside it
    is foreground too, so it is not a strip."""
    fg = fg.copy()
    h, w = fg.shape
    for axis, ends in ((0, (0, h)), (1, (0, w))):
        n = fg.shape[axis]
        frac = fg.mean(axis=1 - axis)  # per row (axis 0) or per column (axis 1)
        for start, step in ((0, 1), (n - 1, -1)):
            idx = [start + step * k for k in range(min(depth, n))]
            hits = [i for i in idx if frac[i] > 0.9]
            if not hits:
                continue
            # find where the strip ends: first line after the hits with much less foreground
            last = max(hits, key=lambda i: step * i)
            inner = last + step * 2
            if 0 <= inner < n and frac[inner] < 0.75:
                sl = slice(min(start, last), max(start, last) + 1)
                if axis == 0:
                    fg[sl, :] = False
                else:
                    fg[:, sl] = False
    return fg


def chest_wall_side_of_mask(mask: np.ndarray, norm: np.ndarray | None = None) -> str:
    """The image side the chest wall is on. The chest wall is cut by the image border while the
    nipple side is a curve, so the breast touches that border along more rows. When it touches
    both borders widely (a large breast), the upper corner that is filled wins (beside the
    nipple it is background), then the brighter border (tissue is thickest at the chest wall),
    then the half holding more of the breast."""
    h, w = mask.shape
    k = max(1, w // 50)
    touch_left = mask[:, :k].any(axis=1)
    touch_right = mask[:, -k:].any(axis=1)
    tl, tr = int(touch_left.sum()), int(touch_right.sum())
    if min(tl, tr) < 0.25 * h and tl != tr:
        return "left" if tl > tr else "right"
    band, top = max(1, int(0.15 * w)), max(1, int(0.2 * h))
    occ_left = float(mask[:top, :band].mean())  # the upper corner beside the nipple is background,
    occ_right = float(mask[:top, -band:].mean())  # in MLO (axilla opposite) and CC views alike
    if abs(occ_left - occ_right) > 0.15:
        return "left" if occ_left > occ_right else "right"
    if norm is not None and tl and tr:
        left_b = float(norm[:, :k][mask[:, :k]].mean())
        right_b = float(norm[:, -k:][mask[:, -k:]].mean())
        return "left" if left_b >= right_b else "right"
    left = mask[:, : w // 2].sum()
    right = mask[:, w - w // 2 :].sum()
    return "left" if left >= right else "right"


# ---------------------------------------------------------------- the breast

def _breast_small(norm: np.ndarray) -> np.ndarray:
    smooth = ndi.gaussian_filter(norm, 2.0)
    t_otsu = otsu_threshold(smooth.ravel())
    below = smooth[smooth < t_otsu]
    bg = float(np.median(below)) if below.size else 0.0
    spread = float(np.percentile(below, 90) - bg) if below.size else 0.0
    t = max(bg + 0.25 * (t_otsu - bg), bg + 1.5 * spread)
    t = min(t, bg + 0.6 * (t_otsu - bg))
    fg = smooth > t
    depth = max(3, fg.shape[0] // 40)
    fg = _cut_border_strips(fg, norm, depth)
    r = max(2, min(fg.shape) // 100)
    fg = open_disk(fg, r)
    fg = _largest_component(fg)
    fg = close_disk(np.pad(fg, r + 1, mode="edge"), r)[r + 1 : -(r + 1), r + 1 : -(r + 1)]
    fg = _fill_holes_open_at_chest_wall(fg, norm)
    return fg


def _fill_holes_open_at_chest_wall(fg: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Fill holes, also those that touch the chest-wall border (dark fat against the wall)."""
    side = chest_wall_side_of_mask(fg, norm)
    pad = np.pad(fg, 1, constant_values=False)
    if side == "left":
        pad[:, 0] = True
    else:
        pad[:, -1] = True
    filled = ndi.binary_fill_holes(pad)[1:-1, 1:-1]
    return filled


# ---------------------------------------------------------------- the pectoral muscle

def _pectoral_small(norm: np.ndarray, breast: np.ndarray, side: str, strict: bool) -> np.ndarray | None:
    """Pectoral wedge on the working copy, or None when no convincing edge is found."""
    img = ndi.gaussian_filter(norm, 1.5)
    m = breast
    if side == "right":  # canonical orientation: chest wall on the left
        img, m = img[:, ::-1], m[:, ::-1]
    h, w = img.shape
    cols = np.flatnonzero(m.any(axis=0))
    rows = np.flatnonzero(m.any(axis=1))
    if cols.size < 10 or rows.size < 10:
        return None
    x_wall = int(np.median(np.argmax(m[rows[0] : rows[0] + h // 2], axis=1)))  # the chest wall column
    top = int(rows[0])
    bw = int(cols[-1]) - x_wall
    bh = int(rows[-1]) - top
    a_vals = np.linspace(0.08, 0.85, 40) * bw  # where the edge meets the top
    b_vals = np.linspace(0.12, 1.0, 40) * bh  # where it meets the chest wall
    A, B = np.meshgrid(a_vals, b_vals, indexing="ij")
    A, B = A.ravel(), B.ravel()
    t = np.linspace(0.04, 0.96, 48)
    px = x_wall + A[:, None] * (1 - t[None, :])
    py = top + B[:, None] * t[None, :]
    norm_len = np.hypot(A, B)
    nx, ny = (B / norm_len)[:, None], (A / norm_len)[:, None]  # outward normal (away from the corner)
    d = max(2.0, h / 170)
    inside = ndi.map_coordinates(img, [py - d * ny, px - d * nx], order=1, mode="nearest")
    outside = ndi.map_coordinates(img, [py + d * ny, px + d * nx], order=1, mode="nearest")
    # the dark side must lie well inside the breast, or the skin line itself would win
    deep = erode_disk(m, int(3 * d))
    valid = ndi.map_coordinates(deep.astype(np.float32), [py + d * ny, px + d * nx], order=0, mode="constant") > 0
    step = np.where(valid, inside - outside, 0.0)
    n_valid = valid.sum(axis=1)
    # robust: the step must hold along most of the line, not in one bright spot
    positive = np.where(valid, step > 0, False).sum(axis=1) / np.maximum(n_valid, 1)
    score = step.sum(axis=1) / np.maximum(n_valid, 1) * positive
    score[n_valid < 0.6 * len(t)] = -np.inf
    # a pectoral wedge never takes more than a third of the breast
    score[A * B / 2 > MAX_PECTORAL_FRACTION * m.sum()] = -np.inf
    best = int(np.argmax(score))
    a, b, s = float(A[best]), float(B[best]), float(score[best])
    # the wedge must be brighter than the breast just outside it
    if not np.isfinite(s) or s < (0.06 if strict else 0.03):
        return None
    # refine row by row: the strongest falling step within +-15% of the line
    xs = np.full(h, np.nan)
    gx = ndi.sobel(img, axis=1)
    span = max(3, int(0.15 * a))
    for y in range(top, min(h, top + int(b))):
        x_line = x_wall + a * (1 - (y - top) / b)
        lo, hi = int(max(x_wall, x_line - span)), int(min(w - 1, x_line + span))
        if hi - lo < 3:
            xs[y] = x_line
            continue
        seg = gx[y, lo:hi] * m[y, lo:hi]
        xs[y] = lo + int(np.argmin(seg)) if seg.min() < 0 else x_line
    yy = np.arange(h)
    ok = np.isfinite(xs)
    if ok.sum() > 5:
        coef = np.polyfit(yy[ok], xs[ok], 2)
        line = np.polyval(coef, yy)
        # stay near the straight fit: a bad refinement must not eat the breast
        straight = x_wall + a * (1 - (yy - top) / b)
        line = np.clip(line, straight - span, straight + span)
    else:
        line = x_wall + a * (1 - (yy - top) / b)
    wedge = np.zeros_like(m)
    xx = np.arange(w)[None, :]
    rows_in = (yy >= top) & (yy <= top + b * 1.05)
    wedge[rows_in] = xx < line[rows_in, None]
    wedge &= m
    if wedge.sum() > 1.2 * MAX_PECTORAL_FRACTION * m.sum():
        return None
    if side == "right":
        wedge = wedge[:, ::-1]
    return wedge


# ---------------------------------------------------------------- public API

def segment_breast(pixels: np.ndarray, view: str | None = None, laterality: str | None = None) -> BreastSegmentation:
    """Breast mask with details. ``view`` MLO-like -> pectoral removed; ``None`` -> removed only
    when the edge is unmistakable; CC -> never. ``laterality`` is not needed (the chest wall
    side is measured) and is accepted for callers that know it."""
    if pixels.ndim != 2:
        raise ValueError(f"breast_mask needs a 2-D grayscale image, got shape {pixels.shape}")
    small, f = _downsample(pixels)
    norm = _normalise(small)
    breast = _breast_small(norm)
    side = chest_wall_side_of_mask(breast, norm)
    v = (view or "").strip().upper()
    pect = None
    if v in MLO_VIEWS or not v:
        pect = _pectoral_small(norm, breast, side, strict=not v)
        if pect is not None:
            breast = breast & ~pect
            breast = _largest_component(breast)
    mask = _upsample(breast, f, pixels.shape)
    pect_full = _upsample(pect, f, pixels.shape) if pect is not None else None
    return BreastSegmentation(mask=mask, chest_wall_side=side, pectoral=pect_full, scale=f)


def breast_mask(pixels: np.ndarray, view: str | None = None, laterality: str | None = None) -> np.ndarray:
    """Boolean mask of the breast (full resolution), background / labels / pectoral excluded."""
    return segment_breast(pixels, view, laterality).mask


def chest_wall_side(pixels: np.ndarray) -> str:
    """'left' or 'right': the image side the chest wall is on."""
    small, _ = _downsample(pixels, 256)
    norm = _normalise(small)
    return chest_wall_side_of_mask(_breast_small(norm), norm)


def infer_laterality(pixels: np.ndarray) -> str:
    """'L' or 'R' for an image in standard display orientation: a right breast faces left
    (chest wall on the image's right), a left breast faces right. Use only when the header
    does not say; a flipped image fools it."""
    return "R" if chest_wall_side(pixels) == "right" else "L"
