"""Render breast-mask overlays (and a contact sheet) for visual checks of core.breast_mask.

Usage: python scripts/render_masks.py [--mias DIR] [--dicom FILE] [--out out/masks] [--names mdb001,...]
Defaults point at ../shared/datasets next to the repository. Green = breast mask edge,
red tint = pectoral muscle removed, yellow circles = mini-MIAS lesions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.breast_mask import segment_breast  # noqa: E402
from mammo_annotator.core.imageio import read_image  # noqa: E402
from mammo_annotator.core.windowing import percentile_window, to_display  # noqa: E402

DATA = REPO.parent / "shared" / "datasets"
DEFAULT_NAMES = ["mdb003", "mdb005", "mdb012", "mdb028", "mdb059", "mdb092", "mdb111", "mdb139",
                 "mdb144", "mdb171", "mdb209", "mdb244", "mdb264", "mdb274", "mdb290", "mdb314"]


def overlay(pixels: np.ndarray, seg, circles=(), size: int = 384) -> Image.Image:
    disp = to_display(pixels, *_win(pixels, seg.mask))
    rgb = np.stack([disp] * 3, axis=-1).astype(np.float32)
    if seg.pectoral is not None:
        rgb[seg.pectoral, 0] = np.minimum(255, rgb[seg.pectoral, 0] * 0.6 + 100)
        rgb[seg.pectoral, 1:] *= 0.6
    outside = ~seg.mask
    rgb[outside] *= 0.45
    rgb[outside, 2] += 60
    from scipy import ndimage as ndi
    edge = seg.mask & ~ndi.binary_erosion(seg.mask, iterations=max(1, pixels.shape[0] // 300))
    rgb[edge] = (0, 255, 0)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for cx, cy, r in circles:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(255, 255, 0), width=3)
    scale = size / max(img.size)
    return img.resize((int(img.width * scale), int(img.height * scale)), Image.BILINEAR)


def _win(pixels, mask):
    w = percentile_window(pixels, mask)
    return w.center, w.width


def mias_circles(info: Path, name: str, height: int):
    out = []
    for line in info.read_text(errors="replace").splitlines():
        f = line.split()
        if len(f) >= 7 and f[0] == name and f[4].isdigit():
            out.append((int(f[4]), height - int(f[5]), int(f[6])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mias", type=Path, default=DATA / "mini-mias")
    ap.add_argument("--dicom", type=Path, default=DATA / "dicom" / "MG1_J2KI.dcm")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "masks")
    ap.add_argument("--names", default=",".join(DEFAULT_NAMES))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tiles = []
    for name in args.names.split(","):
        path = args.mias / f"{name}.png"
        if not path.exists():
            print("missing", path)
            continue
        im = read_image(path)
        t = time.perf_counter()
        seg = segment_breast(im.pixels, view="MLO")
        dt = time.perf_counter() - t
        tile = overlay(im.pixels, seg, mias_circles(args.mias / "Info.txt", name, im.pixels.shape[0]), 256)
        ImageDraw.Draw(tile).text((4, 240), f"{name} {seg.chest_wall_side} {dt*1000:.0f}ms", fill=(255, 255, 255))
        tile.save(args.out / f"{name}.png")
        tiles.append(tile)
        print(f"{name}: {dt*1000:.0f} ms, side {seg.chest_wall_side}, pectoral {'yes' if seg.pectoral is not None else 'no'}")
    if tiles:
        cols = 8
        rows = (len(tiles) + cols - 1) // cols
        sheet = Image.new("RGB", (cols * 256, rows * 256))
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % cols) * 256, (i // cols) * 256))
        sheet.save(args.out / "sheet_mias.png")
    if args.dicom.exists():
        im = read_image(args.dicom)
        t = time.perf_counter()
        seg = segment_breast(im.pixels, view=im.meta.view, laterality=im.meta.laterality)
        dt = time.perf_counter() - t
        overlay(im.pixels, seg, (), 600).save(args.out / "dicom.png")
        print(f"dicom: {dt*1000:.0f} ms, side {seg.chest_wall_side}, pectoral {'yes' if seg.pectoral is not None else 'no'}")


if __name__ == "__main__":
    main()
