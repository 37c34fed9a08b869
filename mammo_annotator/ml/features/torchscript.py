"""Any TorchScript module a user points to, run densely: (1, C_in, H, W) -> (1, C, h, w)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from .cnn import DenseCNNExtractor, WeightsError, file_digest


def torchscript_extractor(path: str | Path, in_channels: int = 1, stride: int | None = None,
                          downsample: int = 2, pool: str = "avg", imagenet_norm: bool = False,
                          device: str = "cpu", sha256: str | None = None) -> DenseCNNExtractor:
    """Load with ``torch.jit.load``; the output channels (and the stride, unless given) are
    found by one probe pass on a 256 x 256 image. With ``sha256`` (the digest the user allowed,
    services.trusted_code) only those exact bytes are loaded, from memory."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: TorchScript file not found")
    source: object = str(path)
    if sha256 is not None:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise WeightsError(f"{path}: the file changed since it was allowed (SHA-256 {hashlib.sha256(data).hexdigest()}, "
                               f"allowed {sha256}); it is not loaded")
        source = io.BytesIO(data)
    try:
        module = torch.jit.load(source, map_location=device)
    except Exception as exc:
        raise WeightsError(f"{path}: not a TorchScript module ({exc})") from exc
    module.eval()
    with torch.no_grad():
        try:
            out = module(torch.zeros(1, in_channels, 256, 256, device=device))
        except Exception as exc:
            raise WeightsError(f"{path}: the module fails on a (1, {in_channels}, 256, 256) input ({exc})") from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise WeightsError(f"{path}: expected a (1, C, h, w) feature map, got {getattr(out, 'shape', type(out))}")
    stride = stride or max(1, round(256 / out.shape[-1]))
    name = f"torchscript-{file_digest(path)}-s{stride}"
    return DenseCNNExtractor(module, stride, out.shape[1], name, downsample, pool, device, in_channels, imagenet_norm)
