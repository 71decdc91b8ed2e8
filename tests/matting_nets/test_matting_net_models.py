"""Shapes, serialisation, training and gradients of the matting_net and refiner models (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest

import keras

from model_harness import ModelHarness
from RMBG.registry import create_model

TINY = {
    "matting_net": dict(encoder_filters=(4, 6), decoder_filters=(6, 4), context_rates=(2,), head_filters=4, trimap_context=3),
    "refiner": dict(scales=(2, 1), encoder_filters=(4, 6), decoder_filters=(6, 4), context_rates=(2,), head_filters=4),
}
MAPS = {"matting_net": 1, "refiner": 2}


def tiny(name: str):
    keras.utils.set_random_seed(0)
    return create_model(name, **TINY[name])


def inputs(height: int, width: int, batch: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((batch, height, width, 4), np.float32)
    x[..., :3] = rng.uniform(0, 255, (batch, height, width, 3))
    x[..., 3] = rng.choice([0.0, 0.5, 1.0], (batch, height, width))
    return x


class TestMattingNetHarness(ModelHarness):
    """Image + trimap in (4 channels), alpha out; trained with the matting losses."""

    name = "matting_net"
    overrides = TINY["matting_net"]
    sizes = ((32, 32), (33, 47))
    maps = MAPS["matting_net"]
    export = "the exporter writes the RGB-input segmenter layout; guided models run on Keras"

    def inputs(self, rng, batch, size):
        return inputs(*size, batch=batch, seed=int(rng.integers(1 << 16)))

    def targets(self, rng, batch, size):
        from RMBG.training.matting_losses import pack_targets

        alpha = rng.uniform(0, 1, (batch, *size)).astype(np.float32)
        unknown = np.ones((batch, *size), np.float32)
        return pack_targets(alpha, unknown, rng.uniform(0, 1, (batch, *size, 3)), rng.uniform(0, 1, (batch, *size, 3)))

    def loss(self):
        from RMBG.training.matting_losses import MattingLoss

        return MattingLoss()


class TestRefinerHarness(TestMattingNetHarness):
    name = "refiner"
    overrides = TINY["refiner"]
    maps = MAPS["refiner"]

    def targets(self, rng, batch, size):
        return (rng.uniform(0, 1, (batch, *size, 1)) > 0.5).astype(np.float32)

    def loss(self):
        from RMBG.training.matting_losses import RefinementLoss

        return RefinementLoss()


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
def test_dict_inputs_equal_stacked_inputs(name):
    model = tiny(name)
    x = inputs(33, 47)
    key = "trimap" if name == "matting_net" else "mask"
    as_dict = model({"image": x[..., :3], key: x[..., 3]})
    np.testing.assert_allclose(as_dict, model(x), atol=1e-6)


def test_matting_net_keeps_known_regions():
    model = tiny("matting_net")
    x = inputs(32, 32)
    alpha = np.asarray(model(x))[..., 0]
    trimap = x[..., 3]
    assert np.all(alpha[trimap == 1.0] == 1.0) and np.all(alpha[trimap == 0.0] == 0.0)
    unknown = alpha[trimap == 0.5]
    assert unknown.min() > 0.0 and unknown.max() < 1.0


def test_wrong_inputs_raise():
    model = tiny("matting_net")
    with pytest.raises(ValueError, match="inputs: expected"):
        model(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(KeyError, match="trimap"):
        model({"image": np.zeros((1, 16, 16, 3), np.float32), "mask": np.zeros((1, 16, 16), np.float32)})
    with pytest.raises(ValueError, match="encoder_filters"):
        create_model("matting_net", encoder_filters=(4, 0))
    with pytest.raises(ValueError, match="scales"):
        create_model("refiner", scales=(1, 2))
