"""Feature extractors (one interface) and the registry that builds them by name."""

from .base import FeatureExtractor
from .registry import DEFAULT_EXTRACTOR, available_extractors, build_extractor

__all__ = ["FeatureExtractor", "DEFAULT_EXTRACTOR", "available_extractors", "build_extractor"]
