"""FC3 -> ReLU -> dropout -> FC4/FC5 as one autograd node, and the dropout mask it uses.

The hidden rows (every region of a batch x 128 units) are the largest tensor of a training step.
Built from separate torch ops, a step read and wrote them about a dozen times: the ReLU, the
dropout mask and its product, and autocast's casts forward; the mask product and the ReLU
threshold backward. Here the ReLU and the mask are applied in place, and because the mask only
holds 0 and 1 / (1 - p), the whole backward through both is one threshold of the hidden
gradient on the saved output. The backward runs on the rows that have a gradient only: region
selection leaves most rows without one. The matmuls run in the dtype of the input rows
(bfloat16 when training casts the cached rows to it), the logits in float32 (or float64).
"""

from __future__ import annotations

import math

import torch

# The backward gathers the rows that have a gradient when they are fewer than this share of all rows.
SPARSE_BELOW = 0.75

# Row b holds the 8 bits of byte b scaled by 2: a p = 0.5 inverted-dropout mask for 8 units.
_BYTE_MASKS = ((torch.arange(256).unsqueeze(1) >> torch.arange(8)) & 1).float() * 2.0


def _random_bytes(n: int, device: torch.device) -> torch.Tensor:
    """``n`` independent uniform bytes: each 64-bit draw gives 8, a draw per byte cost 8 times more."""
    words = torch.empty((n + 7) // 8, dtype=torch.int64, device=device).random_(-2 ** 63, 2 ** 63 - 1)
    return words.view(torch.uint8)[:n]


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype,
                 device: torch.device) -> torch.Tensor:
    """An inverted-dropout mask: every entry independently 0 w.p. ``p``, else 1 / (1 - p).

    For p = 0.5 (and a multiple of 8 entries), one random byte gives 8 units through
    a table lookup: torch's CPU Bernoulli sampler took half of a training step."""
    numel = math.prod(shape)
    if p == 0.5 and numel % 8 == 0:
        table = _BYTE_MASKS.to(device=device, dtype=dtype)
        return torch.index_select(table, 0, _random_bytes(numel // 8, device).long()).view(shape)
    keep = torch.rand(shape, device=device) >= p
    return keep.to(dtype) / (1.0 - p)


class SharedFC(torch.autograd.Function):
    """(x (N, D), FC3 weight/bias, stacked FC4+FC5 weight/bias, mask or None) -> (C, N) logits.

    The output is class-major: each class's logits are one contiguous row, the layout the
    per-image softmaxes of ``losses`` run fast on."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                mask: torch.Tensor | None, scale: float) -> torch.Tensor:
        dt = x.dtype
        w1c, w2c = w1.to(dt), w2.to(dt)
        h = torch.addmm(b1.to(dt), x, w1c.t()).clamp_min_(0)
        if mask is not None:
            h.mul_(mask)
        out = torch.addmm(b2.to(dt).unsqueeze(1), w2c, h.t())
        ctx.save_for_backward(x, h, w1c, w2c)
        ctx.scale = scale if mask is not None else 1.0
        return out.to(torch.promote_types(dt, torch.float32))

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, h, w1c, w2c = ctx.saved_tensors
        n = g.shape[1]
        grad_b2 = g.sum(1)
        # Only rows with a non-zero gradient reach the weights: under region selection the weak terms
        # see the top-k regions of each image (about 10 % of the rows), so the backward matmuls and
        # the ReLU threshold run on those rows alone. Exact: the other rows would add zeros.
        live = (g != 0).any(0).nonzero().squeeze(1)
        sparse = len(live) < SPARSE_BELOW * n
        if sparse:
            g, h, x = g.index_select(1, live), h.index_select(0, live), x.index_select(0, live)
        gd = g.to(h.dtype)
        grad_w2 = torch.mm(gd, h)
        # d h / d pre = mask where pre > 0, i.e. scale where h > 0 (the mask is 0 or scale)
        gpre = torch.ops.aten.threshold_backward(torch.mm(gd.t(), w2c), h, 0)
        grad_w1 = torch.mm(gpre.t(), x).float().mul_(ctx.scale)
        grad_b1 = gpre.sum(0).float().mul_(ctx.scale)  # a bfloat16 sum accumulates in float32
        grad_x = None
        if ctx.needs_input_grad[0]:
            rows = torch.mm(gpre, w1c).mul_(ctx.scale)
            grad_x = rows.new_zeros((n, rows.shape[1])).index_copy_(0, live, rows) if sparse else rows
        # autograd casts each gradient to the dtype of its input (the float32 parameters)
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2, None, None
