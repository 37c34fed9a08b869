"""Packaging detail pyproject.toml cannot express: the top-level ``resources/`` folder (icons,
style sheet) installs inside the package as ``mammo_annotator.resources``, read from there."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["mammo_annotator*"]) + ["mammo_annotator.resources", "mammo_annotator.resources.icons"],
    package_dir={"mammo_annotator.resources": "resources"},
)
