"""SICA's attention of every position over the class context vectors."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class ContextAttention(keras.layers.Layer):
    """Inputs ``[query (N, h, w, D), key (N, K, 1, D), value (N, K, 1, D)]`` → ``(N, h, w, D)``:
    ``softmax(q k^T / sqrt(D)) v`` over the K class contexts (the reference's ``sim`` and its
    refined context)."""

    def call(self, inputs):
        query, key, value = inputs
        shape = tf.shape(query)
        batch, height, width, depth = shape[0], shape[1], shape[2], shape[3]
        q = tf.reshape(query, [batch, height * width, depth])
        k = tf.reshape(key, [batch, -1, depth])
        v = tf.reshape(value, [batch, -1, depth])
        scale = tf.cast(depth, query.dtype) ** -0.5
        similarity = tf.nn.softmax(scale * tf.matmul(q, k, transpose_b=True), axis=-1)  # (N, hw, K)
        return tf.reshape(tf.matmul(similarity, v), [batch, height, width, depth])

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]
