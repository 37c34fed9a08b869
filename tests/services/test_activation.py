"""When a new model version replaces the active one: the policy and the 2 % tolerance."""

from __future__ import annotations

import pytest

from mammo_annotator.services import training
from mammo_annotator.services.training import TrainingRequest, should_activate, validates_worse


def test_worse_means_more_than_two_percent_above_the_active_loss():
    assert training.WORSE_TOLERANCE == 0.02
    assert not validates_worse(1.0, 1.0)
    assert not validates_worse(0.5, 1.0)  # better
    assert not validates_worse(1.0199, 1.0)  # within the tolerance: noise, still activated
    assert not validates_worse(1.02, 1.0)  # exactly at the tolerance
    assert validates_worse(1.0201, 1.0)
    assert not validates_worse(2.039, 2.0) and validates_worse(2.041, 2.0)
    assert not validates_worse(100.5, 100.0)  # relative, not absolute: 0.5 above is 0.5 %


@pytest.mark.parametrize("state, if_better, always, never", [
    ("done", True, True, False),
    ("worse", False, True, False),
    ("diverged", False, True, False),
])
def test_policies(state, if_better, always, never):
    assert should_activate("if_better", state) is if_better
    assert should_activate("always", state) is always
    assert should_activate("never", state) is never


def test_unknown_policy_is_refused():
    assert TrainingRequest().activate == "if_better"
    for ok in ("if_better", "always", "never"):
        assert TrainingRequest(activate=ok).activate == ok
    with pytest.raises(ValueError, match=r"^activate must be one of if_better, always, never, got 'nevr'$"):
        TrainingRequest(activate="nevr")
    assert TrainingRequest(backbone="refresh").backbone == "refresh" and TrainingRequest().backbone == "keep"
    with pytest.raises(ValueError, match=r"^backbone must be 'keep' or 'refresh', got 'fresh'$"):
        TrainingRequest(backbone="fresh")
