"""SICA's class context vectors: probability-weighted sums of the features."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ClassContext(keras.layers.Layer):
    """Inputs ``[x (N, h, w, C), prob (N, h, w, K)]`` → ``(N, K, 1, C)``: one context vector per class.

    Both maps are first resized (bilinear, half-pixel) to ``stage_size`` when it is given — the
    reference fixes it from the training size (``base_size // 2**stage``), so the sums cover the
    same number of positions at every input size — then ``context = prob @ f`` over positions.
    ``f`` is the reference's ``view(b, S, -1)`` of the NCHW feature buffer, reproduced exactly.
    The output is laid out as the reference's ``(N, C, K, 1)`` context in NHWC, for the 1x1
    key/value convolutions that follow.

    Args:
        stage_size: ``(height, width)`` the sums are taken at, or ``None`` for ``x``'s own size.
    """

    def __init__(self, stage_size: Sequence[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        if stage_size is not None:
            stage_size = tuple(int(v) for v in stage_size)
            if len(stage_size) != 2 or min(stage_size) < 1:
                raise ValueError(f"stage_size: expected (height, width) of positive ints or None, got {stage_size!r}")
        self.stage_size = stage_size

    def call(self, inputs):
        x, prob = inputs
        batch, channels, classes = tf.shape(x)[0], tf.shape(x)[3], tf.shape(prob)[3]
        if self.stage_size is not None:
            x = tf.cast(tf.image.resize(x, self.stage_size, method="bilinear"), inputs[0].dtype)
            prob = tf.cast(tf.image.resize(prob, self.stage_size, method="bilinear"), inputs[1].dtype)
        positions = tf.shape(x)[1] * tf.shape(x)[2]
        features = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [batch, positions, channels])
        weights = tf.reshape(tf.transpose(prob, [0, 3, 1, 2]), [batch, classes, positions])
        context = tf.matmul(weights, features)  # (N, K, C)
        return tf.reshape(context, [batch, classes, 1, channels])

    def compute_output_shape(self, input_shapes):
        x, prob = input_shapes
        return (x[0], prob[3], 1, x[3])

    def get_config(self):
        return {**super().get_config(), "stage_size": self.stage_size}
