"""The networks a learned extractor runs: the small from-scratch net and ImageNet trunks cut
at a layer, described by a ``BackboneConfig`` (plain values stored with the weights), both split
into ``trunk`` and ``top`` so end-to-end training can fine-tune only the last stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .cnn import IMAGENET_MEAN, IMAGENET_STD, load_torchvision_weights
from .efficientnet_lite import ARCHS as LITE_ARCHS
from .efficientnet_lite import EfficientNetLite, imagenet_input, pretrained_lite
from .nets import ARCHS

# taps of the pretrained extractor, as one stride-16 map ("s57": the default's, "s357": the probe's)
LITE_LAYERS = {"s57": (5, 7), "s357": (3, 5, 7)}


def lite_layer(stages: tuple[int, ...]) -> str:
    """The backbone layer whose taps are ``stages``; the default's ("s57") when none is."""
    name = "s" + "".join(str(s) for s in sorted(stages))
    return name if name in LITE_LAYERS else "s57"


@dataclass(frozen=True)
class BackboneConfig:
    """Shape of the backbone (plain values, stored with the weights).

    arch "small": the ``SmallConvNet`` below, from scratch. arch "resnet18" / "resnet34" /
    "resnet50" / "vgg16": an ImageNet trunk cut after ``layer``, started from the user's
    torchvision weights and fine-tuned by the same training modes. arch "efficientnet-lite0/1/2"
    with layer "s57" or "s357": the packaged ImageNet EfficientNet-Lite, those stages as one map.
    """

    widths: tuple[int, ...] = (16, 32, 48, 64)  # small: stem, then one (conv, conv) stage per width
    target_spacing_mm: float = 0.2
    default_factor: int = 1  # downsampling when the pixel spacing is unknown
    pool: str = "avgmax"
    arch: str = "small"
    layer: str = ""

    def __post_init__(self) -> None:
        if self.arch in LITE_ARCHS:
            if self.layer not in LITE_LAYERS:
                raise ValueError(f"{self.arch} has no feature layer {self.layer!r}; known: {sorted(LITE_LAYERS)}")
        elif self.arch != "small":
            if self.arch not in ARCHS:
                raise ValueError(f"unknown backbone {self.arch!r}; known: small, {', '.join(sorted(ARCHS))}")
            if self.layer not in ARCHS[self.arch][1]:
                raise ValueError(f"{self.arch} has no feature layer {self.layer!r}; known: {sorted(ARCHS[self.arch][1])}")

    @property
    def stride(self) -> int:
        if self.arch in LITE_ARCHS:
            return 16
        if self.arch != "small":
            return ARCHS[self.arch][1][self.layer][0]
        return 4 * 2 ** (len(self.widths) - 2)

    @property
    def channels(self) -> int:
        if self.arch in LITE_ARCHS:
            return sum(LiteBackbone.tap_channels(self.arch, self.layer))
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


class LiteBackbone(nn.Module):
    """EfficientNet-Lite stages 3, 5 and 7 as one stride-16 map, for fine-tuning.

    ``trunk`` (stem to stage 5) returns the stage-3 map average-pooled to stride 16 beside the
    stage-5 map; ``top`` (stages 6-7) continues from the stage-5 channels and brings its stride-32
    map back to stride 16 (nearest), so window pooling sees the three taps of the frozen default
    on one grid, and end-to-end training can fine-tune stage 7 on cached maps (``_LiteTop.split``).
    """

    def __init__(self, cfg: BackboneConfig, pretrained: bool = False):
        super().__init__()
        net = pretrained_lite(cfg.arch) if pretrained else EfficientNetLite(cfg.arch)
        ends = net.stage_ends
        with3 = 3 in LITE_LAYERS[cfg.layer]
        self.n3 = net.stage_channels[2] if with3 else 0
        self.trunk = _LiteTrunk(net, ends[2], ends[4], with3)
        self.top = _LiteTop(net, ends[4], ends[5], ends[6], self.n3)

    @staticmethod
    def tap_channels(arch: str, layer: str = "s57") -> tuple[int, ...]:
        ch = EfficientNetLite(arch).stage_channels
        return tuple(ch[s - 1] for s in LITE_LAYERS[layer])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.trunk(x))


class _LiteTrunk(nn.Module):
    def __init__(self, net: EfficientNetLite, end3: int, end5: int, with3: bool = True):
        super().__init__()
        self.with3 = with3
        self._conv_stem, self._bn0 = net._conv_stem, net._bn0
        self.early = nn.Sequential(*net._blocks[: end3 + 1])
        self.mid = nn.Sequential(*net._blocks[end3 + 1: end5 + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.relu6(self._bn0(self._conv_stem(imagenet_input(x))), inplace=True)
        s3 = self.early(x)
        s5 = self.mid(s3)
        if not self.with3:
            return s5
        s3 = torch.nn.functional.avg_pool2d(s3, 2, ceil_mode=True)[..., : s5.shape[-2], : s5.shape[-1]]
        return torch.cat([s3, s5], 1)


def _up2(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A stride-32 map on ``like``'s stride-16 grid (nearest); ``[..., ::2, ::2]`` gives it back exactly."""
    return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")[..., : like.shape[-2], : like.shape[-1]]


class _LiteTop(nn.Module):
    def __init__(self, net: EfficientNetLite, end5: int, end6: int, end7: int, n3: int):
        super().__init__()
        self.n3, self.n7 = n3, end7 - end6  # blocks of stage 7, the last of ``late``
        self.late = nn.Sequential(*net._blocks[end5 + 1: end7 + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, _up2(self.late(x[:, self.n3:]), x)], 1)

    def split(self) -> tuple[nn.Module, nn.Module]:
        """(frozen, tuned) with ``tuned(frozen(x)) == self(x)``: end-to-end training caches stage 6
        and tunes only stage 7, the last stage (stages 6-7 together cost 6x more per step on a CPU)."""
        return _LiteStage6(self).train(self.training), _LiteStage7(self).train(self.training)


class _LiteStage6(nn.Module):
    """The trunk's maps with stage 6 appended on their stride-16 grid."""

    def __init__(self, top: _LiteTop):
        super().__init__()
        self.n3, self.blocks = top.n3, top.late[: -top.n7]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, _up2(self.blocks(x[:, self.n3:]), x)], 1)


class _LiteStage7(nn.Module):
    """Stage 7 on the stage-6 channels of ``_LiteStage6``'s output; the top's output."""

    def __init__(self, top: _LiteTop):
        super().__init__()
        self.blocks = top.late[-top.n7:]
        self.n6 = top.late[-top.n7 - 1]._project_conv.out_channels

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        x = c[:, : c.shape[1] - self.n6]
        return torch.cat([x, _up2(self.blocks(c[:, x.shape[1]:, ::2, ::2]), x)], 1)


def build_backbone(cfg: BackboneConfig, imagenet_weights: str | Path | None = None) -> nn.Module:
    """The network ``cfg`` describes; ``imagenet_weights`` (torchvision state-dict file) starts
    an ImageNet trunk from them, else its weights are random (to be trained or loaded). For an
    EfficientNet-Lite the ImageNet weights are the packaged ones: pass ``"packaged"``."""
    if cfg.arch in LITE_ARCHS:
        if imagenet_weights not in (None, "packaged"):
            raise ValueError(f"{cfg.arch} starts from its packaged ImageNet weights, not from {imagenet_weights}")
        return LiteBackbone(cfg, pretrained=imagenet_weights == "packaged")
    if cfg.arch == "small":
        if imagenet_weights is not None:
            raise ValueError("ImageNet weights need an ImageNet backbone (arch resnet18/34/50 or vgg16)")
        return SmallConvNet(cfg)
    return ImageNetBackbone(cfg, imagenet_weights)
