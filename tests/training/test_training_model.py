"""Model-level training checks: gradients reach every weight, mixed precision, encoder freezing,
and fine-tuning the official (BatchNorm-folded) U^2-NetP weights on real horse photos.

Single steps here run eagerly (``run_eagerly``): the same Keras train step and kernels, without
the minute of graph tracing U^2-Net costs on a small CPU. Graph-mode ``fit`` runs are in
``test_training_run.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_asset
from training_helpers import TINY_U2NET, build_tiny

from RMBG.data.synthetic import synthetic_arrays
from RMBG.registry import create_model
from RMBG.training.config import TrainConfig
from RMBG.training.losses import DeepSupervisionBCE
from RMBG.training.metrics import MaskIoU
from RMBG.training.trainer import (
    build_model,
    compile_model,
    folded_batchnorm_layers,
    freeze_batchnorm,
    freeze_encoder,
    recalibrate_folded_batchnorm,
)


def _batch(n=2, size=32, seed=0):
    photos, alphas = synthetic_arrays(n, (size, size), seed=seed)
    return photos.astype(np.float32), alphas[..., None]


def test_every_trainable_weight_of_u2netp_receives_a_gradient():
    keras.utils.set_random_seed(0)
    model = create_model("u2netp", image_size=(32, 32))
    images, masks = _batch()
    pre_batchnorm_bias = {  # bias -> kernel of the same convolution
        id(layer.bias): layer.kernel for layer in model.backbone.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.name.endswith(".conv_s1")
    }
    assert len(pre_batchnorm_bias) == 112

    def gradients(training):
        with tf.GradientTape() as tape:
            loss = DeepSupervisionBCE()(masks, model(images, training=training))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = gradients(training=True)
    assert np.isfinite(float(loss))
    assert len(grads) == len(model.trainable_variables) == 462
    norms = {id(v): float(tf.norm(g)) for v, g in zip(model.trainable_variables, grads) if g is not None}
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, variable.path
        if id(variable) in pre_batchnorm_bias:
            # A bias right before a training-mode BatchNorm is removed by its mean subtraction:
            # its gradient is zero up to float32 rounding (tiny next to its kernel's), whatever the data.
            kernel = pre_batchnorm_bias[id(variable)]
            assert norms[id(variable)] < 1e-3 * norms[id(kernel)], variable.path
        else:
            assert norms[id(variable)] > 0, variable.path
    # Those biases are wired: with moving statistics (inference mode) they do get gradients.
    _, grads = gradients(training=False)
    for variable, grad in zip(model.trainable_variables, grads):
        if id(variable) in pre_batchnorm_bias:
            assert float(tf.norm(grad)) > 1e-6, variable.path


@pytest.mark.slow
def test_mixed_precision_policies_stay_inside_the_model():
    keras.utils.set_random_seed(0)
    assert keras.config.dtype_policy().name == "float32"
    config = TrainConfig(model_overrides=TINY_U2NET, image_size=(32, 32), precision="mixed_bfloat16", learning_rate=1e-2)
    model = compile_model(build_model(config), config)
    assert keras.config.dtype_policy().name == "float32", "the global policy must be restored"
    conv = model.backbone.get_layer("stage1.rebnconvin.conv_s1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    images, masks = _batch()
    before = [np.array(v) for v in model.trainable_variables]
    model.run_eagerly = True
    logs = model.train_on_batch(images, masks, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    assert sum(not np.array_equal(b, np.asarray(v)) for b, v in zip(before, model.trainable_variables)) > 0.9 * len(before)
    prediction = model(images, training=False)
    assert prediction.dtype == tf.float32 and prediction.shape == (2, 32, 32, 1)
    # mixed_float16 gets dynamic loss scaling from Keras's compile
    half = TrainConfig(model_overrides=TINY_U2NET, image_size=(32, 32), precision="mixed_float16")
    model16 = compile_model(build_model(half), half)
    assert isinstance(model16.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"


def test_freeze_encoder_keeps_stages_1_to_6_fixed():
    keras.utils.set_random_seed(0)
    config = TrainConfig(model_overrides=TINY_U2NET, image_size=(32, 32), learning_rate=1e-2)
    model = build_model(config)
    count = freeze_encoder(model)
    frozen = [layer.name for layer in model.backbone.layers if not layer.trainable]
    assert count == len(frozen) > 0
    assert {name.split(".")[0] for name in frozen} == {f"stage{i}" for i in range(1, 7)}
    assert any(layer.name.startswith("stage5d.") and layer.trainable for layer in model.backbone.layers)
    compile_model(model, config)
    encoder = model.backbone.get_layer("stage3.rebnconv1.conv_s1").kernel
    decoder = model.backbone.get_layer("stage3d.rebnconv1.conv_s1").kernel
    encoder_bn = model.backbone.get_layer("stage2.rebnconvin.bn_s1").moving_mean
    before = [np.array(v) for v in (encoder, decoder, encoder_bn)]
    model.run_eagerly = True
    model.train_on_batch(*_batch())
    np.testing.assert_array_equal(before[0], np.asarray(encoder))
    np.testing.assert_array_equal(before[2], np.asarray(encoder_bn))  # frozen BN runs in inference mode
    assert not np.array_equal(before[1], np.asarray(decoder))
    with pytest.raises(ValueError, match="encoder_layers"):
        freeze_encoder(build_tiny())


@pytest.fixture(scope="module")
def horses():
    """Six horse photos and thresholded masks at 128x128 (the model's size in these tests)."""
    from RMBG.inference.image_io import load_image, load_mask

    folder = require_asset("horse")
    require_asset("weights", "u2netp.onnx")
    names = sorted(p.name for p in (folder / "images").glob("*.jpg"))[:6]
    size = (128, 128)
    images = np.stack([tf.image.resize(load_image(folder / "images" / n).astype(np.float32), size).numpy() for n in names])
    masks = np.stack([
        tf.image.resize((load_mask(folder / "masks" / n) >= 0.5).astype(np.float32)[..., None], size).numpy()
        for n in names
    ])
    return images, masks


def _iou(masks, prediction):
    metric = MaskIoU()
    metric.update_state(masks, prediction[..., :1])
    return float(metric.result())


@pytest.mark.slow
@pytest.mark.assets
def test_recalibration_keeps_pretrained_predictions_and_fixes_training_mode(horses):
    images, masks = horses
    model = create_model("u2netp", pretrained=True, image_size=(128, 128))
    folded = folded_batchnorm_layers(model)
    assert len(folded) == 112, "the official ONNX weights have every BatchNorm folded"
    before = model(images, training=False).numpy()
    pretrained_iou = _iou(masks, before)
    assert pretrained_iou > 0.6
    pretrained = model.get_weights()

    # the problem: batch statistics on folded BatchNorm destroy the pretrained function
    collapsed_iou = _iou(masks, model(images, training=True).numpy())
    assert collapsed_iou < pretrained_iou - 0.2, (collapsed_iou, pretrained_iou)
    model.set_weights(pretrained)  # that call also moved the moving statistics

    # alternative 1: folded layers frozen run in inference mode even when training
    freeze_batchnorm(folded)
    inference_maps = tf.sigmoid(model.backbone(model.converter(images), training=False)).numpy()
    np.testing.assert_allclose(model(images, training=True).numpy(), inference_maps, atol=1e-5)
    for layer in folded:
        layer.trainable = True

    # alternative 2 (the default): recalibrate, inference unchanged, training mode close to it
    assert recalibrate_folded_batchnorm(model, [images[:3], images[3:]]) == 112
    np.testing.assert_allclose(model(images, training=False).numpy(), before, atol=1e-3)
    assert folded_batchnorm_layers(model) == []
    assert abs(_iou(masks, model(images, training=True).numpy()) - pretrained_iou) < 0.03


@pytest.mark.slow
@pytest.mark.assets
def test_one_fine_tuning_step_does_not_collapse_iou(horses):
    images, masks = horses
    config = TrainConfig(pretrained=True, image_size=(128, 128), learning_rate=1e-4)
    model = build_model(config)
    recalibrate_folded_batchnorm(model, [images])
    before = _iou(masks, model(images, training=False).numpy())
    compile_model(model, config)
    model.run_eagerly = True
    logs = model.train_on_batch(images[:4], masks[:4], return_dict=True)
    assert np.isfinite(logs["loss"])
    after = _iou(masks, model(images, training=False).numpy())
    assert after >= before - 0.05, (before, after)


def test_weights_file_is_placed_and_its_folded_batchnorm_is_recalibrated():
    """``weights: u2netp.onnx`` (a local file in the family's format, here the official ONNX export):
    build_model places its tensors strictly, and the trainer treats it like pretrained weights:
    the folded BatchNorm is recalibrated without changing the predictions."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from RMBG.training.tasks import TaskData
    from RMBG.training.trainer import _prepare_finetune

    path = require_asset("weights", "u2netp.onnx")
    config = TrainConfig(weights=str(path), image_size=(64, 64))
    model = build_model(config)
    tensors = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    side1 = model.backbone.get_layer("side1")
    np.testing.assert_array_equal(np.asarray(side1.kernel), tensors["side1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np.asarray(side1.bias), tensors["side1.bias"])
    assert not np.array_equal(np.asarray(create_model("u2netp", image_size=(64, 64)).backbone.get_layer("side1").kernel),
                              np.asarray(side1.kernel))

    folded = folded_batchnorm_layers(model)
    assert len(folded) == 112  # the ONNX export is BatchNorm-folded
    images, _ = _batch(4, 64)
    before = model(images, training=False).numpy()
    data = TaskData(train=None, steps=1, val=None, calibration=[images])
    _prepare_finetune(model, config, data, tf.distribute.get_strategy(), 0, 0)
    assert folded_batchnorm_layers(model) == []
    np.testing.assert_allclose(model(images, training=False).numpy(), before, atol=1e-4)
