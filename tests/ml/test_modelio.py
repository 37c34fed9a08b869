import io
import pickle

import pytest
import torch

from mammo_annotator.ml import modelio
from mammo_annotator.ml.model import method
from mammo_annotator.ml.train import TrainConfig, train
from tests.ml.helpers import tiny_dataset


@pytest.fixture(scope="module")
def model():
    return train(tiny_dataset(), method("cls_det_rs"), TrainConfig(epochs=2, batch_size=None)).model


def test_roundtrip_file_and_bytes(model, tmp_path):
    path = modelio.save(model, tmp_path / "m.pt")
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed away
    back = modelio.load(path, expect_feature_key="test:1")
    for k, v in model.head.state_dict().items():
        assert torch.equal(v, back.head.state_dict()[k])
    assert back.config == model.config and back.train_summary == model.train_summary
    again = modelio.from_bytes(modelio.to_bytes(model))
    assert again.feature_key == "test:1"


def test_rejects_feature_key_mismatch(model):
    with pytest.raises(modelio.ModelFileError, match="features"):
        modelio.from_bytes(modelio.to_bytes(model), expect_feature_key="other:2")


def test_rejects_tampered_weights(model):
    obj = torch.load(io.BytesIO(modelio.to_bytes(model)), weights_only=True)
    obj["state_dict"]["fc.weight"][0, 0] += 1.0
    buf = io.BytesIO()
    torch.save(obj, buf)
    with pytest.raises(modelio.ModelFileError, match="checksum"):
        modelio.from_bytes(buf.getvalue(), "tampered.pt")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_rejects_pickled_objects_and_garbage(model, tmp_path):
    buf = io.BytesIO()
    torch.save({"format": modelio.FORMAT, "payload": Evil()}, buf)
    with pytest.raises(modelio.ModelFileError, match="refused"):
        modelio.from_bytes(buf.getvalue(), "evil.pt")
    p = tmp_path / "x.pt"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(modelio.ModelFileError, match="x.pt"):
        modelio.load(p)
    with pytest.raises(modelio.ModelFileError, match="not a Mammo"):
        buf = io.BytesIO()
        torch.save({"a": torch.zeros(1)}, buf)
        modelio.from_bytes(buf.getvalue())
