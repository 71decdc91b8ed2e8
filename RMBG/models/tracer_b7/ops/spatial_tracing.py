"""Row self-attention of single-channel maps (TRACER's spatial tracer)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class SpatialTracing(keras.layers.Layer):
    """``softmax(q kᵀ) v + v`` with image rows as tokens and columns as their features.

    Inputs ``[q, k, v]``, each ``(N, H, W, 1)``. As in the reference, ``q kᵀ`` is ``(N, H, H)``
    (row against row, summed over W), softmax over the last axis; the output ``(N, H, W, 1)``.
    """

    def call(self, inputs):
        q, k, v = (t[..., 0] for t in inputs)  # (N, H, W)
        alpha = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)  # (N, H, H)
        return (tf.matmul(alpha, v) + v)[..., None]

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])
