"""The training outcome line says why a version was or was not activated, in comparable numbers."""

from __future__ import annotations

from mammo_annotator.qt.training_panel import comparison_text


def test_activated_against_the_active_version_on_the_same_images():
    text = comparison_text({"val_loss": 3.245, "active_val_loss": 3.3, "n_val_images": 8}, 1)
    assert text == "validation loss 3.245 vs 3.300 for v1 on the same 8 validation images"


def test_first_model_and_no_validation():
    assert "the first model" in comparison_text({"val_loss": 2.0, "n_val_images": 3}, None)
    assert "no validation patients" in comparison_text({"n_val_images": 0}, None)
    assert "could not be scored" in comparison_text({"val_loss": 2.0, "n_val_images": 3}, 4)
