"""Look at the proposals: the top malignant regions of held-out images next to the true lesions.

    .venv/bin/python scripts/render_proposals.py --db out/mias.sqlite --out out/proposals.png \
        [--method ss_cls_det_rs] [--fold 0] [--images 8] [--top 3]

Trains the method on the other folds of the same patient-wise split that ml.cv uses (the
project's extractor, every contour of the training folds), scores the held-out fold, and draws
for its malignant images (and as many others) the top regions by d_M (red, ranked, with d_M)
over the true lesion outlines (malignant yellow, benign cyan). The title of each panel gives
p(y_M) and the image's true class.
"""

from __future__ import annotations

import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mammo_annotator.core.types import LesionClass  # noqa: E402
from mammo_annotator.ml.cv import patient_folds, select_local  # noqa: E402
from mammo_annotator.ml.model import method  # noqa: E402
from mammo_annotator.ml.scoring import score  # noqa: E402
from mammo_annotator.ml.train import TrainConfig, train  # noqa: E402
from mammo_annotator.services.datasets import load_dataset  # noqa: E402
from mammo_annotator.services.features import ensure_features, project_extractor  # noqa: E402
from mammo_annotator.services.pixels import load_pixels  # noqa: E402
from mammo_annotator.services.project import open_project  # noqa: E402
from mammo_annotator.store import images as image_store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--method", default="ss_cls_det_rs")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--epochs", type=int, default=60)
    a = p.parse_args(argv)
    project = open_project(a.db)
    ext = project_extractor(project)
    ensure_features(project, ext)
    ds = load_dataset(project, ext.key).data
    tr_idx, te_idx = patient_folds(ds, a.folds)[a.fold]
    cfg = method(a.method)
    data = select_local(ds.subset(tr_idx), 1.0 if cfg.semi else None, a.fold)
    model = train(data, cfg, TrainConfig(epochs=a.epochs, num_threads=1)).model
    te = ds.subset(te_idx)
    sc = score(model, te)
    malignant = [i for i in range(len(te)) if te.y_m[i] == 1]
    others = [i for i in np.argsort(-sc.p_m) if te.y_m[i] != 1]
    chosen = (malignant + others)[: a.images]
    cols = 4
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4.3 * rows))
    with project.session() as s:
        records = {str(im.id): im for im in image_store.list_images(s)}
    for ax, i in zip(np.ravel(axes), chosen):
        im = records[str(te.image_ids[i])]
        ax.imshow(load_pixels(im), cmap="gray")
        for les in te.lesions[i]:
            xy = les.polygon.as_array()
            ax.plot(np.r_[xy[:, 0], xy[0, 0]], np.r_[xy[:, 1], xy[0, 1]], lw=1.5,
                    color="yellow" if les.cls is LesionClass.MALIGNANT else "cyan")
        reg = sc.regions(i)
        boxes = te.boxes[te.region_slice(i)]
        for rank, j in enumerate(np.argsort(-reg["d"][:, 1])[: a.top]):
            x0, y0, x1, y1 = boxes[j]
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, color="red",
                                       alpha=1.0 - 0.25 * rank))
            ax.text(x0 + 3, y0 + 14, f"{rank + 1}: {reg['d'][j, 1]:.2f}", color="red", fontsize=7,
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0})
        ax.set_title(f"{im.patient_key} {im.laterality}  true {te.class_names()[i]}  p(M) {sc.p_m[i]:.2f}", fontsize=8)
        ax.axis("off")
    for ax in np.ravel(axes)[len(chosen):]:
        ax.axis("off")
    fig.suptitle(f"{a.method}, held-out fold {a.fold + 1}/{a.folds} ({ext.key.split(':')[0]}): top {a.top} malignant "
                 "regions (red) vs lesions (yellow M, cyan B)", fontsize=9)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}: {len(chosen)} held-out images ({len(malignant)} malignant in the fold)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
