"""Resize a feature map to the spatial size of another one (PyTorch's ``_upsample_like``)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ResizeLike(keras.layers.Layer):
    """Resize ``inputs[0]`` to the height and width of ``inputs[1]``.

    Bilinear with half-pixel centres and no antialiasing, i.e. PyTorch's
    ``F.interpolate(mode="bilinear", align_corners=False)``, which U^2-Net uses. The target size
    is read at run time, so the model accepts any input size, odd ones included (where ceil-mode
    pooling makes the scale factor differ from 2). ``keras.ops.image.resize`` needs a static size,
    hence ``tf.image.resize`` here.

    Args:
        interpolation: ``"bilinear"`` or ``"nearest"``.
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation: expected 'bilinear' or 'nearest', got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        source, reference = inputs
        size = tf.shape(reference)[1:3]
        resized = tf.image.resize(source, size, method=self.interpolation)
        return tf.cast(resized, source.dtype)

    def compute_output_shape(self, input_shapes):
        source, reference = input_shapes
        return (source[0], reference[1], reference[2], source[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}
