"""Resize a feature map to a fraction of the input image's size."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ResizeToFraction(keras.layers.Layer):
    """Resize ``inputs[0]`` to ``(H // divisor, W // divisor)`` of ``inputs[1]`` (the image).

    Bilinear with half-pixel centres, no antialiasing: PyTorch's ``F.interpolate(...,
    mode="bilinear", align_corners=False)``, which InSPyReNet applies to its features before each
    attention stage (``self.res(x, (H // 4, W // 4))``).

    Args:
        divisor: the image size is floor-divided by this (positive).
    """

    def __init__(self, divisor: int, **kwargs):
        super().__init__(**kwargs)
        if int(divisor) < 1:
            raise ValueError(f"divisor: expected a positive integer, got {divisor!r}")
        self.divisor = int(divisor)

    def call(self, inputs):
        source, image = inputs
        size = tf.shape(image)[1:3] // self.divisor
        return tf.cast(tf.image.resize(source, size, method="bilinear"), source.dtype)

    def compute_output_shape(self, input_shapes):
        source, image = input_shapes
        size = [None if s is None else s // self.divisor for s in image[1:3]]
        return (source[0], *size, source[3])

    def get_config(self):
        return {**super().get_config(), "divisor": self.divisor}
