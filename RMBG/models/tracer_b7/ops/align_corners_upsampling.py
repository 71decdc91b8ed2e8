"""Bilinear upsampling with aligned corners (PyTorch ``nn.Upsample(align_corners=True)``)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class AlignCornersUpsampling(keras.layers.Layer):
    """Upsample ``(N, H, W, C)`` by an integer factor, bilinear, corner pixels aligned.

    Output pixel ``o`` samples input position ``o * (H - 1) / (factor * H - 1)``: the first and last
    pixels map onto each other exactly. This is PyTorch's ``align_corners=True`` (TRACER's
    aggregation module), not the half-pixel convention of ``keras.layers.UpSampling2D``, so a
    dedicated layer. TensorFlow's ``ResizeBilinear`` kernel with ``align_corners=True`` computes
    the same source coordinates; it exports to ONNX as ``Resize(align_corners)``.

    Args:
        factor: the integer scale factor of both spatial axes (>= 1).
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(factor) != factor or factor < 1:
            raise ValueError(f"factor: expected a positive integer, got {factor!r}")
        self.factor = int(factor)

    def call(self, inputs):
        size = tf.shape(inputs)[1:3] * self.factor
        resized = tf.raw_ops.ResizeBilinear(
            images=inputs, size=size, align_corners=True, half_pixel_centers=False
        )
        return tf.cast(resized, inputs.dtype)

    def compute_output_shape(self, input_shape):
        height, width = (None if s is None else s * self.factor for s in input_shape[1:3])
        return (input_shape[0], height, width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
