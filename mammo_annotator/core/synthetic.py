"""Synthetic mammograms with known truth, for tests, demos and the ML smoke benchmarks.

Not a physical simulation: enough structure that a region classifier has something real to
learn and something real to confuse it. A breast outline (CC: half-ellipse; MLO: a taller,
tilted one cut by the top border, with a pectoral wedge), power-law ("1/f^beta", beta ~ 3)
texture as measured on mammograms, lumpy fibroglandular density, then lesions:

* benign masses: round or oval, smooth edges (circumscribed);
* malignant masses: irregular core with spicules radiating out;
* malignant calcification clusters: 5-20 tiny bright specks.

Lesion contrast is drawn per lesion relative to the texture, so some are obvious and some are
faint against dense tissue: a real detector should reach a high but not perfect AUROC. Every
case is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from scipy import ndimage as ndi

from .types import Lesion, LesionClass, Polygon, WeakLabel


@dataclass(frozen=True)
class SyntheticCase:
    """One synthetic image with its truth (contours in full-resolution pixel coordinates)."""

    pixels: np.ndarray  # uint16, values in [0, 2**bits - 1]
    breast_mask: np.ndarray  # bool, true breast without the pectoral muscle
    breast_outline: Polygon
    pectoral: Polygon | None
    lesions: tuple[Lesion, ...]
    lesion_kinds: tuple[str, ...]  # "benign_mass" | "spiculated_mass" | "calc_cluster", per lesion
    weak_label: WeakLabel
    view: str
    laterality: str
    bits: int
    seed: int
    patient_id: str | None = None
    image_id: str | None = None
    extra: dict = field(default_factory=dict)


def power_law_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^beta, zero mean, unit std."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = (rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))) * amp
    out = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    out -= out.mean()
    out /= out.std() + 1e-12
    return out


def _outline(rng: np.random.Generator, h: int, w: int, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Breast outline points (x, y) in canonical orientation (chest wall at x = 0) and the
    normalised radius field rho (< 1 inside the breast)."""
    if view == "CC":
        cy, a, b = h * rng.uniform(0.46, 0.54), w * rng.uniform(0.62, 0.82), h * rng.uniform(0.36, 0.46)
        tilt = 0.0
    else:
        cy, a, b = h * rng.uniform(0.36, 0.44), w * rng.uniform(0.60, 0.78), h * rng.uniform(0.46, 0.54)
        tilt = rng.uniform(0.10, 0.25)
    harmonics = rng.normal(0, 0.025, 4)
    phases = rng.uniform(0, 2 * np.pi, 4)

    def wobble(theta: np.ndarray) -> np.ndarray:
        return 1.0 + sum(harmonics[k] * np.cos((k + 2) * theta + phases[k]) for k in range(4))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx
    # tilt: the MLO breast hangs down and away from the chest wall
    u = dx * np.cos(tilt) + dy * np.sin(tilt)
    v = -dx * np.sin(tilt) + dy * np.cos(tilt)
    theta = np.arctan2(v / b, u / a)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / wobble(theta)
    t = np.linspace(-np.pi / 2, np.pi / 2, 256)
    r = wobble(t)
    ou, ov = a * np.cos(t) * r, b * np.sin(t) * r
    ox = ou * np.cos(tilt) - ov * np.sin(tilt)
    oy = ou * np.sin(tilt) + ov * np.cos(tilt) + cy
    pts = np.stack([np.clip(ox, 0, w), np.clip(oy, 0, h)], axis=1)
    pts = np.vstack([[0.0, pts[0, 1]], pts, [0.0, pts[-1, 1]]])
    return pts, rho


def _lesion_centre(rng, inside: np.ndarray, taken: list[tuple[float, float, float]], r: float) -> tuple[float, float]:
    ys, xs = np.nonzero(inside)
    for _ in range(50):
        i = int(rng.integers(len(ys)))
        x, y = float(xs[i]), float(ys[i])
        if all(np.hypot(x - tx, y - ty) > r + tr + 8 for tx, ty, tr in taken):
            return x, y
    return float(xs[0]), float(ys[0])


def _polar_polygon(cx: float, cy: float, radii: np.ndarray) -> Polygon:
    t = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    return Polygon.from_array(np.stack([cx + radii * np.cos(t), cy + radii * np.sin(t)], axis=1))


def _add_mass(img, rng, cx, cy, radius, amp, spiculated: bool) -> Polygon:
    """Draw a mass into ``img`` (in place, a local patch) and return its contour."""
    h, w = img.shape
    n = 96
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if spiculated:
        k = rng.integers(5, 9)
        radii = radius * (1 + 0.18 * rng.standard_normal(n)).clip(0.6, 1.5)
        radii = ndi.gaussian_filter1d(radii, 1.5, mode="wrap")
        radii *= 1 + 0.15 * np.cos(k * t + rng.uniform(0, 6.3))
    else:
        ecc = rng.uniform(0.7, 1.0)
        rot = rng.uniform(0, np.pi)
        radii = radius / np.sqrt((np.cos(t - rot) / 1.0) ** 2 + (np.sin(t - rot) / ecc) ** 2)
        radii = radii * ecc ** -0.5
    reach = int(radius * (3.2 if spiculated else 1.6)) + 3
    y0, y1 = max(0, int(cy) - reach), min(h, int(cy) + reach + 1)
    x0, x1 = max(0, int(cx) - reach), min(w, int(cx) + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    ang = np.mod(np.arctan2(dy, dx), 2 * np.pi)
    rad_at = np.interp(ang, np.append(t, 2 * np.pi), np.append(radii, radii[0]))
    dist = np.hypot(dx, dy) / rad_at
    edge = 0.08 if not spiculated else 0.18
    body = 1.0 / (1.0 + np.exp((dist - 1.0) / edge))  # smooth, dome-like falloff
    body *= 0.75 + 0.25 * np.clip(1 - dist**2, 0, 1)
    patch = amp * body
    if spiculated:
        for _ in range(int(rng.integers(8, 16))):
            a = rng.uniform(0, 2 * np.pi)
            length = radius * rng.uniform(1.2, 2.8)
            along = dx * np.cos(a) + dy * np.sin(a)
            across = -dx * np.sin(a) + dy * np.cos(a)
            width = rng.uniform(0.8, 1.8)
            ray = np.exp(-0.5 * (across / width) ** 2) * np.clip(1 - along / length, 0, 1) * (along > 0)
            patch += amp * rng.uniform(0.4, 0.8) * ray
    img[y0:y1, x0:x1] += patch
    return _polar_polygon(cx, cy, radii * (1.15 if spiculated else 1.05))


def _add_calcs(img, rng, cx, cy, radius, amp) -> Polygon:
    """A cluster of specks; the contour is a circle around them with a small margin."""
    h, w = img.shape
    n = int(rng.integers(5, 21))
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    a = rng.uniform(0, 2 * np.pi, n)
    xs, ys = cx + r * np.cos(a), cy + r * np.sin(a)
    for x, y in zip(xs, ys):
        s = rng.uniform(0.7, 1.6)
        x0, x1 = max(0, int(x) - 5), min(w, int(x) + 6)
        y0, y1 = max(0, int(y) - 5), min(h, int(y) + 6)
        if x1 <= x0 or y1 <= y0:  # a speck of a cluster near the border can fall outside the image
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        img[y0:y1, x0:x1] += amp * rng.uniform(0.6, 1.2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    extent = float(np.max(np.hypot(xs - cx, ys - cy))) + 6
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    return Polygon.from_array(np.stack([cx + extent * np.cos(t), cy + extent * np.sin(t)], axis=1))


def synthetic_mammogram(seed: int, size: tuple[int, int] = (1024, 832), view: str = "MLO", laterality: str = "L",
                        n_benign: int = 0, n_malignant: int = 0, n_calc_clusters: int = 0, bits: int = 12,
                        patient_id: str | None = None, image_id: str | None = None) -> SyntheticCase:
    """One synthetic mammogram; the same arguments always give the same image.

    Laterality follows standard display: a left breast has its chest wall on the image's left.
    Malignant masses and calcification clusters are MALIGNANT lesions; benign masses BENIGN.
    """
    view, laterality = view.upper(), laterality.upper()
    if view not in ("CC", "MLO"):
        raise ValueError(f"view must be CC or MLO, got {view!r}")
    if laterality not in ("L", "R"):
        raise ValueError(f"laterality must be L or R, got {laterality!r}")
    rng = np.random.default_rng(seed)
    h, w = size
    scale = h / 1024.0
    outline, rho = _outline(rng, h, w, view)
    breast = rho < 1.0
    # thickness falls off towards the skin line; tissue density is lumpy
    thickness = np.clip((1.0 - rho) / 0.12, 0, 1) ** 0.6
    density = ndi.gaussian_filter(power_law_noise(rng, (h, w), 3.6), 6 * scale)
    density = 1 / (1 + np.exp(-(density - rng.uniform(-0.8, 0.6)) * 1.6))  # fraction of dense tissue
    texture = power_law_noise(rng, (h, w), 2.8)
    img = 0.30 + 0.16 * density + 0.06 * texture * (0.5 + density)
    pect_poly = None
    if view == "MLO":
        pa, pb = w * rng.uniform(0.18, 0.36), h * rng.uniform(0.35, 0.6)
        bow = rng.uniform(-0.06, 0.1)
        yy = np.arange(h, dtype=np.float32)[:, None]
        s = np.clip(yy / pb, 0, 1)
        x_edge = pa * (1 - s) * (1 + bow * np.sin(np.pi * s))
        pect = (np.arange(w)[None, :] < x_edge) & (yy < pb) & breast
        img = np.where(pect, 0.62 + 0.03 * texture, img)
        ty = np.linspace(0, pb, 32)
        tx = pa * (1 - ty / pb) * (1 + bow * np.sin(np.pi * ty / pb))
        pect_poly_arr = np.vstack([[0.0, 0.0], np.stack([tx, ty], axis=1)])
    else:
        pect = np.zeros_like(breast)
        pect_poly_arr = None
    img = img * thickness
    texture_std = 0.06
    lesions: list[Lesion] = []
    kinds: list[str] = []
    candidates = breast & ~ndi.binary_dilation(pect, iterations=int(20 * scale)) & (rho < 0.8)
    taken: list[tuple[float, float, float]] = []
    plan = ["benign_mass"] * n_benign + ["spiculated_mass"] * n_malignant + ["calc_cluster"] * n_calc_clusters
    for kind in plan:
        if kind == "calc_cluster":
            radius = rng.uniform(10, 26) * scale
        else:
            radius = rng.uniform(12, 34) * scale
        cx, cy = _lesion_centre(rng, candidates, taken, radius)
        taken.append((cx, cy, radius * (3 if kind == "spiculated_mass" else 1.2)))
        if kind == "calc_cluster":
            poly = _add_calcs(img, rng, cx, cy, radius, texture_std * rng.uniform(2.5, 5.0))
            cls = LesionClass.MALIGNANT
        else:
            amp = texture_std * rng.uniform(0.8, 2.2)
            poly = _add_mass(img, rng, cx, cy, radius, amp, spiculated=kind == "spiculated_mass")
            cls = LesionClass.MALIGNANT if kind == "spiculated_mass" else LesionClass.BENIGN
        lesions.append(Lesion(cls, poly))
        kinds.append(kind)
    img = np.where(breast, img, 0.02)
    img += rng.normal(0, 0.006, img.shape).astype(np.float32)  # quantum / film noise
    top = (1 << bits) - 1
    pixels = np.clip(np.rint(img / 0.85 * top), 0, top).astype(np.uint16)
    mask = breast & ~pect
    if laterality == "R":  # chest wall on the right: mirror everything
        pixels, mask = pixels[:, ::-1].copy(), mask[:, ::-1].copy()
        outline = np.stack([w - outline[:, 0], outline[:, 1]], axis=1)
        if pect_poly_arr is not None:
            pect_poly_arr = np.stack([w - pect_poly_arr[:, 0], pect_poly_arr[:, 1]], axis=1)
        lesions = [Lesion(les.cls, Polygon.from_array(np.stack([w - les.polygon.as_array()[:, 0],
                                                                les.polygon.as_array()[:, 1]], axis=1)))
                   for les in lesions]
    if pect_poly_arr is not None:
        pect_poly = Polygon.from_array(pect_poly_arr)
    y_m = int(any(les.cls is LesionClass.MALIGNANT for les in lesions))
    y_b = int(any(les.cls is LesionClass.BENIGN for les in lesions))
    return SyntheticCase(pixels=pixels, breast_mask=mask, breast_outline=Polygon.from_array(outline),
                         pectoral=pect_poly, lesions=tuple(lesions), lesion_kinds=tuple(kinds),
                         weak_label=WeakLabel(y_m, y_b), view=view, laterality=laterality, bits=bits, seed=seed,
                         patient_id=patient_id, image_id=image_id)


DEFAULT_MIX = {"N": 0.55, "B": 0.2, "M": 0.17, "MB": 0.08}


def synthetic_dataset(n_patients: int, seed: int = 0, size: tuple[int, int] = (1024, 832),
                      views: tuple[str, ...] = ("CC", "MLO"), mix: dict[str, float] | None = None,
                      bits: int = 12) -> Iterator[SyntheticCase]:
    """Cases for ``n_patients`` patients, each with both breasts in every view.

    Findings belong to the breast: each breast draws a category from ``mix`` (N, B, M, MB) and
    its views all show it (at independent positions, not a geometric model of the views).
    Malignant breasts get a spiculated mass, a calcification cluster, or both.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    names = list(mix)
    probs = np.asarray([mix[k] for k in names], dtype=float)
    probs /= probs.sum()
    rng = np.random.default_rng(seed)
    for p in range(n_patients):
        pid = f"SYN{p + 1:04d}"
        for lat in ("R", "L"):
            cat = names[int(rng.choice(len(names), p=probs))]
            n_b = int(rng.integers(1, 3)) if "B" in cat else 0
            n_m = n_c = 0
            if "M" in cat:
                kind = rng.choice(3, p=[0.5, 0.3, 0.2])  # mass, calcs, both
                n_m, n_c = int(kind in (0, 2)), int(kind in (1, 2))
            for view in views:
                case_seed = int(rng.integers(0, 2**31 - 1))
                yield synthetic_mammogram(case_seed, size, view, lat, n_b, n_m, n_c, bits,
                                          patient_id=pid, image_id=f"{pid}_{lat}_{view}")
