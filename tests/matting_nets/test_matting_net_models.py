"""Shapes, serialisation, training and gradients of the matting_net and refiner models (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras

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


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
@pytest.mark.parametrize("size", [(32, 32), (33, 47)])
def test_shapes_any_size(name, size):
    model = tiny(name)
    x = inputs(*size)
    assert model(x).shape == (2, *size, 1)
    assert model(x, training=True).shape == (2, *size, MAPS[name])
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


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
def test_config_round_trip(name):
    model = tiny(name)
    clone = model.__class__.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
def test_keras_save_load_equal_without_custom_objects(name, tmp_path):
    model = tiny(name)
    x = inputs(33, 35)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


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


@pytest.mark.parametrize("name", ["matting_net", "refiner"])
def test_every_trainable_weight_gets_a_gradient_and_fit_step(name):
    from RMBG.training.matting_losses import MattingLoss, RefinementLoss, pack_targets

    model = tiny(name)
    x = inputs(32, 32)
    rng = np.random.default_rng(1)
    alpha = rng.uniform(0, 1, (2, 32, 32)).astype(np.float32)
    if name == "matting_net":
        loss = MattingLoss()
        y = pack_targets(alpha, (x[..., 3] == 0.5).astype(np.float32), rng.uniform(0, 1, (2, 32, 32, 3)), rng.uniform(0, 1, (2, 32, 32, 3)))
    else:
        loss = RefinementLoss()
        y = (alpha > 0.5).astype(np.float32)[..., None]
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True))
    gradients = tape.gradient(value, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, gradients) if g is None or not np.any(np.asarray(g))]
    assert not missing, f"no gradient for {missing}"
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    before = [np.array(v) for v in model.trainable_variables]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(b, np.array(v)) for b, v in zip(before, model.trainable_variables))
