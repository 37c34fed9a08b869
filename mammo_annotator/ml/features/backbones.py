"""The networks a learned extractor runs: the small from-scratch net and ImageNet trunks cut
at a layer, described by a ``BackboneConfig`` (plain values stored with the weights), both split
into ``trunk`` and ``top`` so end-to-end training can fine-tune only the last stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .cnn import IMAGENET_MEAN, IMAGENET_STD, load_torchvision_weights
from .nets import ARCHS


@dataclass(frozen=True)
class BackboneConfig:
    """Shape of the backbone (plain values, stored with the weights).

    arch "small": the ``SmallConvNet`` below, from scratch. arch "resnet18" / "resnet34" /
    "resnet50" / "vgg16": an ImageNet trunk cut after ``layer``, started from the user's
    torchvision weights and fine-tuned by the same training modes.
    """

    widths: tuple[int, ...] = (16, 32, 48, 64)  # small: stem, then one (conv, conv) stage per width
    target_spacing_mm: float = 0.2
    default_factor: int = 1  # downsampling when the pixel spacing is unknown
    pool: str = "avgmax"
    arch: str = "small"
    layer: str = ""

    def __post_init__(self) -> None:
        if self.arch != "small":
            if self.arch not in ARCHS:
                raise ValueError(f"unknown backbone {self.arch!r}; known: small, {', '.join(sorted(ARCHS))}")
            if self.layer not in ARCHS[self.arch][1]:
                raise ValueError(f"{self.arch} has no feature layer {self.layer!r}; known: {sorted(ARCHS[self.arch][1])}")

    @property
    def stride(self) -> int:
        if self.arch != "small":
            return ARCHS[self.arch][1][self.layer][0]
        return 4 * 2 ** (len(self.widths) - 2)

    @property
    def channels(self) -> int:
        return ARCHS[self.arch][1][self.layer][1] if self.arch != "small" else self.widths[-1]

    @property
    def dim(self) -> int:
        return self.channels * (2 if self.pool == "avgmax" else 1)

    @property
    def tag(self) -> str:
        """'' for the small net, '-resnet18-layer2' etc. for an ImageNet start (part of the name)."""
        return "" if self.arch == "small" else f"-{self.arch}-{self.layer}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "BackboneConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallConvNet(nn.Module):
    """stem (4x4/4) -> conv -> [conv/2 -> conv] per further width; output stride ``cfg.stride``.

    ``trunk`` (everything but the last stage) and ``top`` (the last stage) are separate so the
    end-to-end mode can freeze and cache the trunk and fine-tune only the top with the heads.
    """

    def __init__(self, cfg: BackboneConfig = BackboneConfig()):
        super().__init__()
        w = cfg.widths
        mods = [nn.Conv2d(1, w[0], 4, 4, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True), _conv(w[0], w[1])]
        for a, b in zip(w[1:-2], w[2:-1]):
            mods += [_conv(a, b, 2), _conv(b, b)]
        self.trunk = nn.Sequential(*mods)
        self.top = nn.Sequential(_conv(w[-2], w[-1], 2), _conv(w[-1], w[-1]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.trunk(x))


class ImageNetInput(nn.Module):
    """A one-channel image in about [0, 1] as the three ImageNet-normalised channels a trunk expects."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std


class ImageNetBackbone(nn.Module):
    """An ImageNet trunk (ResNet / VGG, torchvision layout) cut after ``cfg.layer``, with the
    same ``trunk`` / ``top`` split as ``SmallConvNet``: ``top`` is the last block (ResNet) or the
    last conv + ReLU (VGG), which end-to-end training fine-tunes."""

    def __init__(self, cfg: BackboneConfig, weights: str | Path | None = None):
        super().__init__()
        make, _, head_prefix = ARCHS[cfg.arch]
        model = make()
        if weights is not None:
            load_torchvision_weights(model, weights, head_prefix)
        body = list(model.trunk(cfg.layer))
        last = body[-1]
        if isinstance(last, nn.Sequential):  # a ResNet layer: its last block is the top
            body, top = body[:-1] + list(last[:-1]), last[-1]
        else:  # VGG: the final conv and its ReLU
            body, top = body[:-2], nn.Sequential(*body[-2:])
        self.trunk = nn.Sequential(ImageNetInput(), *body)
        self.top = top

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.trunk(x))


def build_backbone(cfg: BackboneConfig, imagenet_weights: str | Path | None = None) -> nn.Module:
    """The network ``cfg`` describes; ``imagenet_weights`` (torchvision state-dict file) starts
    an ImageNet trunk from them, else its weights are random (to be trained or loaded)."""
    if cfg.arch == "small":
        if imagenet_weights is not None:
            raise ValueError("ImageNet weights need an ImageNet backbone (arch resnet18/34/50 or vgg16)")
        return SmallConvNet(cfg)
    return ImageNetBackbone(cfg, imagenet_weights)
