"""Save / load trained heads as plain tensors + JSON (no pickled classes), atomically.

The file is ``torch.save`` of {"format", "format_version", "meta_json", "state_dict"}; loading
uses ``torch.load(weights_only=True)``, so a file carrying pickled objects is refused by torch
itself, and a SHA-256 of the tensors (kept in the metadata) catches edited weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import torch

from ..core.errors import MammoError
from .model import DualBranchHead, HeadConfig, TrainedModel

FORMAT = "mammo-annotator/dual-branch-head"
FORMAT_VERSION = 1


class ModelFileError(MammoError):
    """A model file or blob cannot be trusted or does not match; names the source and why."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}")


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _payload(model: TrainedModel) -> dict:
    state = {k: v.detach().cpu().clone() for k, v in model.head.state_dict().items()}
    meta = {
        "config": model.config.to_json(),
        "feature_key": model.feature_key,
        "in_dim": model.in_dim,
        "train_summary": model.train_summary,
        "metrics": model.metrics,
        "train_config": model.train_config,
        "sha256": _digest(state),
    }
    try:
        meta_json = json.dumps(meta, allow_nan=True, default=float)
    except TypeError as exc:  # pragma: no cover - metrics must be plain data
        raise ValueError(f"model metadata is not JSON-serialisable: {exc}") from exc
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "meta_json": meta_json, "state_dict": state}


def to_bytes(model: TrainedModel) -> bytes:
    buf = io.BytesIO()
    torch.save(_payload(model), buf)
    return buf.getvalue()


def save(model: TrainedModel, path: str | os.PathLike) -> Path:
    """Write atomically: a temp file in the same folder, fsync, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = to_bytes(model)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _from_payload(obj: object, source: str, expect_feature_key: str | None) -> TrainedModel:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ModelFileError(source, "not a Mammo Annotator model file")
    if obj.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(source, f"unsupported model format version {obj.get('format_version')!r}")
    try:
        meta = json.loads(obj["meta_json"])
        cfg = HeadConfig.from_json(meta["config"])
        in_dim = int(meta["in_dim"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(source, f"damaged metadata ({exc})") from exc
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(source, "the weights are not a plain tensor dictionary")
    if _digest(state) != meta.get("sha256"):
        raise ModelFileError(source, "the weights do not match their checksum (file edited or damaged)")
    head = DualBranchHead(in_dim, cfg)
    expected = head.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelFileError(source, f"weights do not match the model: missing {missing}, unexpected {extra}")
    for k, v in expected.items():
        if state[k].shape != v.shape:
            raise ModelFileError(source, f"{k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
        if not torch.isfinite(state[k]).all():
            raise ModelFileError(source, f"{k} contains NaN or infinite values")
    head.load_state_dict(state)
    head.eval()
    key = meta.get("feature_key", "")
    if expect_feature_key is not None and key != expect_feature_key:
        raise ModelFileError(source, f"model was trained on features {key!r}, expected {expect_feature_key!r}")
    return TrainedModel(head=head, config=cfg, feature_key=key, train_summary=meta.get("train_summary", {}),
                        metrics=meta.get("metrics", {}), train_config=meta.get("train_config", {}))


def from_bytes(blob: bytes, source: str = "<model blob>", expect_feature_key: str | None = None) -> TrainedModel:
    try:
        obj = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled classes; zip errors for garbage
        raise ModelFileError(source, f"refused to load (not a plain-tensor model file): {exc}") from exc
    return _from_payload(obj, source, expect_feature_key)


def load(path: str | os.PathLike, expect_feature_key: str | None = None) -> TrainedModel:
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(str(path), f"cannot read ({exc.strerror})") from exc
    return from_bytes(blob, str(path), expect_feature_key)
