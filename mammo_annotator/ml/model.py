"""The dual-branch heads of method section 3 and the paper's baselines as configurations.

FC3 (shared) -> ReLU -> dropout -> FC4 (classification over the region classes) and
FC5 (detection logits for B and M). The per-image softmaxes live in ``losses.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from .dataset import PackedData
from .shared_fc import SharedFC, dropout_mask

# Column order of the detection branch and of image probabilities everywhere: (B, M).
ABNORMAL = ("B", "M")


@dataclass(frozen=True)
class HeadConfig:
    """One method of Table 2. Plain values only (stored as JSON with the model).

    classes: "NBM" (proposed: region classes N, B, M) or "BM" (WSDDN / DB-Baseline, no normal class).
    aggregation: "cls_det" (p = sum_i p_det * p_cls) or "max" (Max-Region: p = max_i p_cls).
    region_selection / k: RS top-k masking of the detection softmax.
    semi: use local annotations (L = L_W + lambda2 * L_F); full_det=False is SS-Baseline-RS.
    full_det_mask: "unmasked" (L_F_det over the detection softmax of all regions; default) or
        "union" (over the RS top-k mask plus the labelled-M regions). Unmasked is the default
        because d_M(r) = p_cls * p_det^M used for localisation is the unmasked softmax, and a
        labelled-M region outside the top-k must still receive gradient (no log 0).
    """

    name: str = "cls_det_rs"
    classes: str = "NBM"
    aggregation: str = "cls_det"
    region_selection: bool = True
    k: int = 10
    semi: bool = False
    full_cls: bool = True
    full_det: bool = True
    full_det_mask: str = "unmasked"
    beta: float = 1.0
    lambda2: float = 1.0
    hidden: int = 128
    dropout: float = 0.5
    branch_init_std: float = 1e-4  # paper: "zero mean and 1e-4 STD" (a standard deviation, not a variance)

    def __post_init__(self) -> None:
        if self.classes not in ("NBM", "BM"):
            raise ValueError(f"classes must be 'NBM' or 'BM', got {self.classes!r}")
        if self.aggregation not in ("cls_det", "max"):
            raise ValueError(f"aggregation must be 'cls_det' or 'max', got {self.aggregation!r}")
        if self.full_det_mask not in ("unmasked", "union"):
            raise ValueError(f"full_det_mask must be 'unmasked' or 'union', got {self.full_det_mask!r}")
        if self.semi and self.aggregation != "cls_det":
            raise ValueError("the semi-supervised objective needs the detection branch (aggregation='cls_det')")
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def n_cls(self) -> int:
        return len(self.classes)

    def cls_index(self, c: str) -> int:
        return self.classes.index(c)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "HeadConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown head config fields: {sorted(unknown)}")
        return cls(**d)


# The paper's Table 2 methods as named configurations of the same code.
METHODS: dict[str, HeadConfig] = {
    "max_region": HeadConfig(name="max_region", aggregation="max", region_selection=False),
    "db_baseline": HeadConfig(name="db_baseline", classes="BM", region_selection=False),
    "cls_det": HeadConfig(name="cls_det", region_selection=False),
    "cls_det_rs": HeadConfig(name="cls_det_rs"),
    "ss_baseline_rs": HeadConfig(name="ss_baseline_rs", semi=True, full_det=False),
    "ss_cls_det_rs": HeadConfig(name="ss_cls_det_rs", semi=True),
}


def method(name: str, **overrides) -> HeadConfig:
    """A named method, optionally with fields changed (e.g. ``method("cls_det_rs", k=5)``)."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return replace(METHODS[name], **overrides)


@dataclass
class RegionOutputs:
    """Per-region logits scattered into (n, m_max, .) with the validity mask."""

    cls_logits: torch.Tensor  # (n, m, n_cls)
    det_logits: torch.Tensor  # (n, m, 2) columns (B, M)
    valid: torch.Tensor  # (n, m) bool


class FastDropout(nn.Module):
    """Inverted dropout with ``shared_fc.dropout_mask`` (the same distribution as ``nn.Dropout``).

    The head applies its mask inside ``SharedFC``; calling the module applies it to any tensor."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def mask(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        """A fresh mask, or None when nothing is dropped (eval mode or p = 0)."""
        if not self.training or self.p == 0.0:
            return None
        return dropout_mask(shape, self.p, dtype, device)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = self.mask(h.shape, h.dtype, h.device)
        return h if m is None else h * m


class DualBranchHead(nn.Module):
    """FC3 shared, FC4 classification, FC5 detection; input standardised by stored statistics."""

    def __init__(self, in_dim: int, cfg: HeadConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(in_dim))
        self.register_buffer("feat_std", torch.ones(in_dim))
        self.fc = nn.Linear(in_dim, cfg.hidden)
        self.drop = FastDropout(cfg.dropout)
        self.cls = nn.Linear(cfg.hidden, cfg.n_cls)
        self.det = nn.Linear(cfg.hidden, len(ABNORMAL))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # shared FC: He-normal ("normal distribution [37]"); branches: N(0, std=1e-4), zero bias
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)
        for lin in (self.cls, self.det):
            nn.init.normal_(lin.weight, 0.0, self.cfg.branch_init_std)
            nn.init.zeros_(lin.bias)

    @property
    def in_dim(self) -> int:
        return int(self.fc.in_features)

    def set_normaliser(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(torch.clamp(std, min=1e-6))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feat_mean).div_(self.feat_std)

    def region_logits(self, x: torch.Tensor, normalised: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat rows (N, D) -> (cls (N, n_cls), det (N, 2)); no per-image work.

        ``normalised``: x is already standardised (training standardises the cached rows once).
        """
        both = self._branch_logits(x, normalised)
        return both[:self.cls.out_features].t(), both[self.cls.out_features:].t()

    def _branch_logits(self, x: torch.Tensor, normalised: bool) -> torch.Tensor:
        """(n_cls + 2, N) float32, class-major: FC3, ReLU, dropout and FC4 + FC5 as one node
        (``shared_fc.SharedFC``), so the hidden rows are read once forward and once backward."""
        x = x if normalised else self.normalise(x)
        mask = self.drop.mask((x.shape[0], self.fc.out_features), x.dtype, x.device)
        weight = torch.cat([self.cls.weight, self.det.weight])
        bias = torch.cat([self.cls.bias, self.det.bias])
        return SharedFC.apply(x, self.fc.weight, self.fc.bias, weight, bias, mask, 1.0 / (1.0 - self.drop.p))

    def forward(self, data: PackedData, normalised: bool = False) -> RegionOutputs:
        """Logits scattered into (n, m_max, .) tensors that hold each class as a contiguous
        (n, m_max) plane, the layout the per-image softmaxes of ``losses`` are fast on."""
        both = self._branch_logits(data.x, normalised)
        n, m = data.n, data.m_max
        at = data.img * m + data.pos
        padded = both.new_zeros((both.shape[0], n * m)).index_copy(1, at, both).view(-1, n, m).permute(1, 2, 0)
        c = self.cls.out_features
        return RegionOutputs(padded[..., :c], padded[..., c:], data.valid)


@dataclass
class TrainedModel:
    """A trained head plus everything needed to use it safely later (persisted by modelio)."""

    head: DualBranchHead
    config: HeadConfig
    feature_key: str
    train_summary: dict
    metrics: dict
    train_config: dict

    @property
    def in_dim(self) -> int:
        return self.head.in_dim


def new_head(in_dim: int, cfg: HeadConfig) -> DualBranchHead:
    return DualBranchHead(in_dim, cfg)
