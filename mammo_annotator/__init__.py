"""Mammo Annotator: contour malignant lesions while a dual-branch model proposes regions."""

__version__ = "0.1.0"
