"""A project with nothing to train on says so, naming the cause (the command line prints it as an
"error:" line; callers that expect a ValueError still get one)."""

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.errors import MammoError
from mammo_annotator.services.datasets import NoTrainingDataError, load_dataset
from mammo_annotator.services.importing import import_items
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.services.training import run_training


def test_nothing_to_train_on_names_the_cause(project, tmp_path):
    with pytest.raises(NoTrainingDataError, match="the project has no images yet; import mammograms first") as info:
        load_dataset(project, "handcrafted:1")
    assert isinstance(info.value, MammoError) and isinstance(info.value, ValueError)
    blank = tmp_path / "blank.png"  # no breast: the image gets no region
    Image.fromarray(np.zeros((400, 300), np.uint8)).save(blank)
    assert len(import_items(project, items_from_paths([blank])).imported) == 1
    with pytest.raises(NoTrainingDataError, match=r"none of its 1 images has regions with features: "
                                                  r"no region inside the breast \(1\)"):
        run_training(project)
