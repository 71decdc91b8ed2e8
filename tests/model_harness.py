"""The checks every model family passes (imported by the per-family test files)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
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


class ModelHarness:
    """The generic tests every registered model runs (segmentation_models' ``BaseModelTester`` idea).

    A family's test module subclasses it once per registry name (``class TestXHarness(ModelHarness)``)
    and sets what is special: ``name``, small ``overrides``, two ``sizes``, the number of training
    ``maps``, the ``loss``, and for models that do not take an RGB batch, ``inputs``/``targets``/
    ``output_shape``. The model is built once per class. ``tests/models/test_harness_coverage.py``
    fails for a registered model that no harness class covers.
    """

    name: str = ""
    overrides: dict = {}
    sizes: tuple = ((48, 48), (37, 53))
    maps: int = 1
    #: ``True``: check ONNX export parity; otherwise the reason it is checked elsewhere (or not at all).
    export: bool | str = True
    run_eagerly: bool = False  # fit without tracing (only where tracing costs minutes; say why)
    #: ONNX vs Keras on the same fp32 graph: different kernels and summation orders; 1e-4 on
    #: sigmoid outputs in [0, 1] holds on AMD and Intel (measured 8.3e-5 / 1.85e-4 on full U^2-NetP
    #: at 320 px; these small inputs stay well below).
    export_atol: float = 1e-4

    @staticmethod
    def exempt(variable) -> bool:
        """Weights whose gradient is mathematically zero (e.g. a conv bias before training-mode BN)."""
        return False

    def loss(self):
        from RMBG.training.losses import DeepSupervisionBCE

        return DeepSupervisionBCE()

    def inputs(self, rng: np.random.Generator, batch: int, size) -> np.ndarray:
        return rng.uniform(0, 255, (batch, *size, 3)).astype("float32")

    def targets(self, rng: np.random.Generator, batch: int, size) -> np.ndarray:
        return (rng.uniform(size=(batch, *size, 1)) > 0.5).astype("float32")

    def output_shape(self, model, batch: int, size, training: bool) -> tuple:
        height, width = getattr(model, "image_size", None) or size
        return (batch, height, width, self.maps if training else 1)

    def _output_size(self, model) -> tuple:
        """The size the model's maps come out at for an input of ``sizes[0]`` (its converter's, if fixed)."""
        return getattr(model, "image_size", None) or self.sizes[0]

    def primary(self, outputs) -> np.ndarray:
        """The output compared across save/load and export (the inference output)."""
        return np.asarray(outputs)

    # ---- the model, built once per class --------------------------------------------------
    @pytest.fixture(scope="class")
    def model(self):
        import RMBG

        keras.utils.set_random_seed(0)
        return RMBG.create_model(self.name, **self.overrides)

    # ---- the checks -----------------------------------------------------------------------
    def test_shapes_at_two_sizes(self, model):
        for size in self.sizes:
            x = self.inputs(np.random.default_rng(0), 2, size)
            assert tuple(np.shape(self.primary(model(x, training=False)))) == self.output_shape(model, 2, size, False)
            assert tuple(np.shape(model(x, training=True))) == self.output_shape(model, 2, size, True)

    def test_config_round_trip(self, model):
        import json

        config = model.get_config()
        json.dumps(keras.saving.serialize_keras_object(model))
        clone = model.__class__.from_config(config)
        assert clone.get_config() == config
        assert clone.count_params() == model.count_params()
        assert sorted(v.path for v in clone.weights) == sorted(v.path for v in model.weights)

    def test_save_load_equality(self, model, tmp_path):
        import RMBG

        x = self.inputs(np.random.default_rng(1), 1, self.sizes[0])
        path = tmp_path / f"{self.name}.keras"
        model.save(path)
        loaded = RMBG.load_model(path, cache=False)  # in this process; the fresh-process case: tests/training
        np.testing.assert_allclose(self.primary(loaded(x, training=False)), self.primary(model(x, training=False)), atol=1e-6)

    def test_every_weight_gets_a_gradient(self, model):
        rng = np.random.default_rng(2)
        x, y = self.inputs(rng, 2, self.sizes[0]), self.targets(rng, 2, self._output_size(model))
        with tf.GradientTape() as tape:
            value = self.loss()(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_weights)
        missing = [v.path for v, g in zip(model.trainable_weights, grads) if g is None]
        assert not missing, f"no gradient for {missing[:5]}"
        for variable, grad in zip(model.trainable_weights, grads):
            assert np.all(np.isfinite(grad)), variable.path
        zero = [v.path for v, g in zip(model.trainable_weights, grads) if not self.exempt(v) and not np.any(np.asarray(g))]
        assert not zero, f"zero gradient for {zero[:5]}"

    def test_one_fit_step(self, model):
        rng = np.random.default_rng(3)
        x, y = self.inputs(rng, 2, self.sizes[0]), self.targets(rng, 2, self._output_size(model))
        # Trains the class's model in place (the checks after this one do not need untrained weights).
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=self.loss(), run_eagerly=self.run_eagerly)
        history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        changed = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
        assert changed > 0.9 * len(before)

    def test_onnx_export_parity(self, model, tmp_path):
        if self.export is not True:
            pytest.skip(f"{self.name}: {self.export}")
        ort = pytest.importorskip("onnxruntime")
        from RMBG.export.onnx_export import export_onnx

        fixed = getattr(model, "image_size", None)
        if fixed is None:
            pytest.skip(f"{self.name}: the harness builds it without a fixed image_size; the exporter needs one")
        path = export_onnx(model, tmp_path / f"{self.name}.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = self.inputs(np.random.default_rng(4), 2, fixed)
        exported = session.run(None, {session.get_inputs()[0].name: x})[0]
        reference = self.primary(model(x, training=False))
        assert np.abs(exported - reference).max() <= self.export_atol
