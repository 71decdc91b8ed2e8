"""The image converter that travels inside every model.

Mean, std, input size and pixel scaling are part of the saved model, so no call site ever
retypes them: a model takes float32 RGB pixel values in [0, 255] of any size and converts them
itself. The remover reads :attr:`ImageConverter.image_size` to resize photos on the CPU before
batching, with the same interpolation, so the in-graph resize is then the identity.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported; presets use them without TF)

#: Keras' ResNet50 ImageNet weights expect "caffe" input: BGR order, these means subtracted, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

#: How pixel values in [0, 255] are scaled before mean/std normalisation.
SCALINGS = ("image_max", "unit", "symmetric", "caffe")


@keras.saving.register_keras_serializable(package="RMBG")
class ImageConverter(keras.layers.Layer):
    """Resize and normalise RGB pixel values ``[0, 255]`` for a backbone.

    Args:
        image_size: ``(height, width)`` the backbone expects, or ``None`` to keep the input size.
        scaling: ``"image_max"`` divides each image by its own maximum (the official U^2-Net
            convention), ``"unit"`` divides by 255, ``"symmetric"`` maps to [-1, 1].
        mean: per-channel mean subtracted after scaling (ignored for ``"symmetric"``).
        std: per-channel standard deviation divided after scaling.
        interpolation: resize method, ``"bilinear"`` (half-pixel, no antialias) or ``"area"``.
    """

    def __init__(
        self,
        image_size: Sequence[int] | None = (320, 320),
        scaling: str = "unit",
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        interpolation: str = "bilinear",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if scaling not in SCALINGS:
            raise ValueError(f"scaling: expected one of {SCALINGS}, got {scaling!r}")
        if image_size is not None:
            image_size = tuple(int(v) for v in image_size)
            if len(image_size) != 2 or min(image_size) < 1:
                raise ValueError(f"image_size: expected (height, width) of positive ints or None, got {image_size!r}")
        if interpolation not in ("bilinear", "area"):
            raise ValueError(f"interpolation: expected 'bilinear' or 'area', got {interpolation!r}")
        for label, value in (("mean", mean), ("std", std)):
            if value is not None and len(value) != 3:
                raise ValueError(f"{label}: expected 3 per-channel values or None, got {value!r}")
        self.image_size = image_size
        self.scaling = scaling
        self.mean = tuple(float(v) for v in mean) if mean is not None else None
        self.std = tuple(float(v) for v in std) if std is not None else None
        self.interpolation = interpolation

    def call(self, images):
        x = tf.cast(images, "float32")
        if self.image_size is not None and tuple(x.shape[1:3]) != self.image_size:
            # Only when the size differs (or is unknown when traced): at the same size both
            # methods are the identity, and leaving the op out keeps exported graphs free of it
            # (TFLite has no builtin ResizeArea: TRACER-B7's exports would need TF's flex ops).
            x = tf.image.resize(x, self.image_size, method=self.interpolation)
        if self.scaling == "image_max":
            peak = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
            x = x / tf.maximum(peak, 1e-6)
        elif self.scaling == "unit":
            x = x / 255.0
        elif self.scaling == "caffe":
            return x[..., ::-1] - tf.constant(CAFFE_BGR_MEAN, "float32")
        else:
            return x / 127.5 - 1.0
        if self.mean is not None:
            x = x - tf.constant(self.mean, "float32")
        if self.std is not None:
            x = x / tf.constant(self.std, "float32")
        return x

    def compute_output_shape(self, input_shape):
        if self.image_size is None:
            return tuple(input_shape)
        return (input_shape[0], *self.image_size, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "scaling": self.scaling,
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
        }
