"""Model surgery for fine-tuning: freezing the encoder and the folded BatchNorm of official weights.

The official U^2-Net weights are BatchNorm-folded: their BatchNorm layers are the identity
(gamma 1, beta 0, mean 0, variance ``1 - eps``). In training mode such a layer would normalise by
the batch's statistics and destroy the pretrained function. :func:`recalibrate_folded_batchnorm`
fixes that without changing inference; :func:`freeze_batchnorm` keeps those layers in inference
mode instead.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf


def encoder_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The encoder layers of a model's backbone, as its ``encoder_layers()`` method names them
    (U^2-Net: the layers of stages 1..6).

    Raises:
        ValueError: the backbone has no ``encoder_layers()`` method.
    """
    backbone = getattr(model, "backbone", model)
    if callable(getattr(backbone, "encoder_layers", None)):
        return list(backbone.encoder_layers())
    raise ValueError(
        f"freeze_encoder: the backbone {type(backbone).__name__} ({backbone.name!r}) does not say which layers "
        "are its encoder; give it an encoder_layers() method or set freeze_encoder: false"
    )


def freeze_encoder(model: keras.Model) -> int:
    """Make the encoder non-trainable (frozen BatchNorm then runs in inference mode); returns the
    number of layers frozen."""
    layers = encoder_layers(model)
    for layer in layers:
        layer.trainable = False
    return len(layers)


def folded_batchnorm_layers(model: keras.Model, atol: float = 1e-6) -> list[keras.layers.BatchNormalization]:
    """BatchNorm layers that are the folded identity: gamma 1, beta 0, moving mean 0 and moving
    variance ``1 - epsilon`` (what importing a BN-folded ONNX export leaves)."""
    backbone = getattr(model, "backbone", model)
    found = []
    for layer in backbone._flatten_layers(include_self=False):
        if not isinstance(layer, keras.layers.BatchNormalization) or not layer.built:
            continue
        checks = (
            (layer.gamma, 1.0), (layer.beta, 0.0), (layer.moving_mean, 0.0), (layer.moving_variance, 1.0 - layer.epsilon),
        )
        if all(v is None or np.allclose(np.asarray(v), target, atol=atol) for v, target in checks):
            found.append(layer)
    return found


def freeze_batchnorm(layers: Sequence[keras.layers.BatchNormalization]) -> None:
    """Keep ``layers`` in inference mode and their parameters fixed (Keras runs a non-trainable
    BatchNorm with its moving statistics)."""
    for layer in layers:
        layer.trainable = False


def _input_moments(model: keras.Model, batches, layers) -> tuple[list[np.ndarray], int]:
    """Per-channel sums of ``x`` and ``x^2`` of each layer's input over ``batches``, and the image count."""
    backbone = getattr(model, "backbone", model)
    converter = getattr(model, "converter", None)
    outputs = []
    for layer in layers:
        x = keras.ops.cast(layer.input, "float32")
        outputs.append(keras.ops.mean(x, axis=(0, 1, 2)))
        outputs.append(keras.ops.mean(x * x, axis=(0, 1, 2)))
    probe = keras.Model(backbone.inputs, outputs, name="batchnorm_probe")
    sums = [np.zeros(int(layer.gamma.shape[0]), np.float64) for layer in layers for _ in (0, 1)]
    total = 0
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = converter(images) if converter is not None else images
        count = int(x.shape[0])
        for i, value in enumerate(probe(x, training=False)):
            sums[i] += np.asarray(value, np.float64) * count
        total += count
    return sums, total


def recalibrate_folded_batchnorm(
    model: keras.Model,
    batches: tf.data.Dataset | Sequence[Any],
    layers: Sequence[keras.layers.BatchNormalization] | None = None,
) -> int:
    """Give folded-identity BatchNorm layers real statistics without changing inference.

    For each layer, the mean ``m`` and variance ``v`` of its input (per channel, over every pixel
    of ``batches``) are measured, then ``moving_mean = m``, ``moving_variance = v``,
    ``gamma = sqrt(v + eps)``, ``beta = m``. In inference mode the layer computes
    ``gamma (x - m) / sqrt(v + eps) + beta = x``: still the identity, so predictions do not change.
    In training mode it normalises by the batch's statistics and maps them back to ``(m, v)``,
    which is again close to the identity for batches like the calibration data, so fine-tuning
    starts from the pretrained function and BatchNorm trains as usual. Because every folded layer
    is the identity, one pass measures all layers at once.

    Args:
        model: a segmenter (or backbone) with folded BatchNorm layers.
        batches: batches of ``(images, ...)`` or images, float32 pixel values in [0, 255] (no
            augmentation), e.g. ``evaluation_dataset(train_samples, ...).take(8)``.
        layers: the layers to recalibrate (default: :func:`folded_batchnorm_layers`).

    Returns:
        The number of layers recalibrated.

    Raises:
        ValueError: ``batches`` holds no images.
    """
    layers = list(layers) if layers is not None else folded_batchnorm_layers(model)
    if not layers:
        return 0
    sums, total = _input_moments(model, batches, layers)
    if total == 0:
        raise ValueError("batches: no images to measure the BatchNorm statistics on")
    for j, layer in enumerate(layers):
        mean = sums[2 * j] / total
        variance = np.maximum(sums[2 * j + 1] / total - mean**2, 0.0)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(variance.astype(np.float32))
        layer.gamma.assign(np.sqrt(variance + layer.epsilon).astype(np.float32))
        layer.beta.assign(mean.astype(np.float32))
    return len(layers)
