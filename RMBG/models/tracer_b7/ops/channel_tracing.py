"""Channel self-attention over globally pooled features (TRACER's channel tracer)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ChannelTracing(keras.layers.Layer):
    """``softmax(q kᵀ) v`` across channels of pooled vectors.

    Inputs ``[q, k, v]``, each ``(N, 1, 1, C)`` (1x1 projections of the pooled, normalised
    features). Each channel is a token of dimension 1: ``A = softmax(q kᵀ)`` is ``(N, C, C)``,
    softmax over the last axis, and the output ``A v`` is returned as ``(N, 1, 1, C)``.
    """

    def call(self, inputs):
        q, k, v = (tf.reshape(t, (tf.shape(t)[0], -1, 1)) for t in inputs)  # (N, C, 1)
        alpha = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)  # (N, C, C)
        attended = tf.matmul(alpha, v)  # (N, C, 1)
        return tf.reshape(attended, tf.shape(inputs[0]))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])
