"""The checks every model family passes (imported by the per-family test files)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def check_shapes(model, sizes, channels: int) -> None:
    """Inference gives (N, H, W, 1) and training (N, H, W, K) at every (H, W) in ``sizes``."""
    for height, width in sizes:
        x = np.random.default_rng(0).uniform(0, 255, (2, height, width, 3)).astype("float32")
        expected = model.image_size or (height, width)
        assert tuple(model(x, training=False).shape) == (2, *expected, 1)
        assert tuple(model(x, training=True).shape) == (2, *expected, channels)


def check_config_round_trip(model) -> None:
    """get_config → from_config rebuilds the same architecture, and the config is JSON-serialisable."""
    import json

    config = model.get_config()
    json.dumps(keras.saving.serialize_keras_object(model))
    clone = model.__class__.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    assert [v.path for v in clone.backbone.weights] == [v.path for v in model.backbone.weights]


def check_save_load(model, tmp_path: Path, size) -> None:
    """A .keras file loads with no custom_objects and gives the same outputs."""
    x = np.random.default_rng(1).uniform(0, 255, (1, *size, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)
    np.testing.assert_allclose(loaded(x, training=True), model(x, training=True), atol=1e-5)


def check_gradients(model, size, *, exempt=lambda variable: False) -> None:
    """Every trainable weight receives a finite gradient; all but ``exempt`` a non-zero one.

    A convolution bias directly followed by BatchNorm in training mode is cancelled by the mean
    subtraction, so its gradient is mathematically zero: such weights are passed as ``exempt``.
    """
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (2, *size, 3)).astype("float32")
    y = (rng.uniform(size=(2, *size, 1)) > 0.5).astype("float32")
    with tf.GradientTape() as tape:
        maps = model(x, training=True)
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(tf.broadcast_to(y, tf.shape(maps))[..., None], maps[..., None]))
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [v.path for v, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing, f"no gradient for {missing[:5]}"
    for variable, grad in zip(model.trainable_weights, grads):
        assert np.all(np.isfinite(grad)), variable.path
        if not exempt(variable):
            assert np.any(grad.numpy() != 0), f"zero gradient for {variable.path}"


def check_fit_step(model, loss, size) -> None:
    """One fit step with deep supervision runs and changes the weights."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (2, *size, 3)).astype("float32")
    y = (rng.uniform(size=(2, *size, 1)) > 0.5).astype("float32")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    assert changed > 0.9 * len(before)
