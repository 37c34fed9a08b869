"""Torch layer: region features, the dual-branch heads, training, scoring and metrics."""
