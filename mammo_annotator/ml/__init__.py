"""Model layer: feature extractors, dual-branch heads and losses, training, scoring, metrics,
cross-validation and reports. Imports numpy, scipy, sklearn, torch and core only."""
