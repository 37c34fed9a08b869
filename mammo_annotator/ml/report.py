"""Result writers: a Table-2-shaped Markdown table and JSON (methods as rows, metrics as columns,
mean ± std over folds, pooled AUROC with 95% CI), ROC / FROC plots and the probability plane."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .cv import CVResult  # noqa: E402
from .froc import froc  # noqa: E402
from .metrics import roc, task_labels, task_scores  # noqa: E402

TABLE_COLUMNS = (
    ("M_vs_BN/auroc", "M vs BN AUROC"), ("M_vs_BN/pauc", "M vs BN pAUCR"),
    ("M_vs_BN/spec@0.85", "M vs BN spec@0.85"), ("M_vs_BN/spec@0.90", "M vs BN spec@0.90"),
    ("MB_vs_N/auroc", "MB vs N AUROC"), ("MB_vs_N/pauc", "MB vs N pAUCR"),
    ("breast/M_vs_BN/auroc", "breast M vs BN AUROC"), ("froc_M/sens@1fppi", "M loc. sens@1FP"),
    ("froc_MB/sens@1fppi", "MB loc. sens@1FP"),
)
CLASS_COLOURS = {"N": "#4C72B0", "B": "#55A868", "M": "#C44E52", "MB": "#DD8452", "?": "#999999"}


def _fmt(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def summary_table(result: CVResult, n_boot: int = 1000) -> dict:
    """{method: {metric: {"mean", "std"}, "pooled": {...}, "train_s": ..., "statuses": [...]}}."""
    out = {}
    for name, res in result.methods.items():
        ms = res.mean_std()
        pooled = result.pooled(name, n_boot=n_boot) if res.fold_scores else {}
        out[name] = {
            "metrics": {k: {"mean": m, "std": s} for k, (m, s) in ms.items()},
            "pooled": {k: {"estimate": e, "ci95": [lo, hi]} for k, (e, lo, hi) in pooled.items()},
            "train_seconds_mean": float(np.mean(res.train_seconds)) if res.train_seconds else None,
            "statuses": res.statuses,
            "n_folds": len(res.fold_metrics),
        }
    return out


def markdown_table(summary: dict, title: str = "Results") -> str:
    head = ["method"] + [label for _, label in TABLE_COLUMNS] + ["pooled M vs BN AUROC (95% CI)",
                                                                 "pooled MB vs N AUROC (95% CI)"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in summary.items():
        cells = [name]
        for key, _ in TABLE_COLUMNS:
            m = row["metrics"].get(key, {"mean": float("nan"), "std": float("nan")})
            cells.append(_fmt(m["mean"], m["std"]))
        for task in ("M_vs_BN/auroc", "MB_vs_N/auroc"):
            p = row["pooled"].get(task)
            cells.append(f"{p['estimate']:.3f} ({p['ci95'][0]:.3f}-{p['ci95'][1]:.3f})" if p else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "mean ± std over folds; pAUCR = mean specificity over sensitivity 0.8-1; "
              "breast = max over the views of a breast; loc. = FROC sensitivity at 1 false positive per image."]
    return "\n".join(lines) + "\n"


def plot_roc(result: CVResult, path: Path) -> Path:
    ds = result.dataset
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, task in zip(axes, ("M_vs_BN", "MB_vs_N")):
        for name in result.methods:
            sc = result.pooled_scores(name)
            y, s = task_labels(ds.y_m, ds.y_b)[task], task_scores(sc.p_m, sc.p_b)[task]
            fpr, tpr, _ = roc(y, s)
            from .metrics import auroc

            ax.plot(fpr, tpr, lw=1.5, label=f"{name} ({auroc(y, s):.3f})")
        ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        ax.axhspan(0.8, 1.0, color="orange", alpha=0.08, label="pAUCR band (sens ≥ 0.8)")
        ax.set(title=f"ROC {task.replace('_', ' ')} (pooled out-of-fold)", xlabel="1 - specificity",
               ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_froc(result: CVResult, path: Path, cls: str = "M") -> Path:
    ds = result.dataset
    fig, ax = plt.subplots(figsize=(6, 5))
    for name in result.methods:
        curve = froc(ds, result.pooled_scores(name), cls)
        ax.step(curve.fppi, curve.sensitivity, where="post", lw=1.5,
                label=f"{name} (sens@1FP {curve.sensitivity_at(1.0):.2f}, n={curve.n_tp_images})")
    ax.set(xscale="symlog", xlim=(0, 10), ylim=(0, 1.01), xlabel="false positives per image",
           ylabel="fraction of TP images localised",
           title=f"FROC {'abnormal (M or B) vs normal' if cls == 'MB' else cls} (images classified at sensitivity 0.85)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_probability_plane(result: CVResult, name: str, path: Path) -> Path:
    ds, sc = result.dataset, result.pooled_scores(name)
    names = ds.class_names()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for c in ("N", "B", "M", "MB", "?"):
        k = names == c
        if k.any():
            ax.scatter(sc.p_b[k], sc.p_m[k], s=14, alpha=0.7, c=CLASS_COLOURS[c], label=f"{c} (n={int(k.sum())})",
                       edgecolors="none")
    ax.set(xlabel="p(y_B = 1 | x)", ylabel="p(y_M = 1 | x)", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal",
           title=f"Probability plane: {name}")
    ax.legend(title="true class", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(result: CVResult, out_dir: str | Path, title: str = "Results", n_boot: int = 1000,
                 plane_method: str | None = None) -> dict[str, Path]:
    """Write results.md, results.json, roc.png, froc_M.png, froc_MB.png, plane_<method>.png under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(result, n_boot)
    paths = {"markdown": out / "results.md", "json": out / "results.json"}
    paths["markdown"].write_text(markdown_table(summary, title), encoding="utf-8")
    paths["json"].write_text(json.dumps({"title": title, "mode": result.mode, "methods": summary}, indent=1,
                                        default=float), encoding="utf-8")
    paths["roc"] = plot_roc(result, out / "roc.png")
    paths["froc"] = plot_froc(result, out / "froc_M.png", "M")
    paths["froc_MB"] = plot_froc(result, out / "froc_MB.png", "MB")
    plane = plane_method or list(result.methods)[-1]
    paths["plane"] = plot_probability_plane(result, plane, out / f"plane_{plane}.png")
    return paths
