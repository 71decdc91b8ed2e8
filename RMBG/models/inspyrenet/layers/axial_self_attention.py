"""InSPyReNet's axial self-attention (``SelfAttention`` of the reference, modes ``'h'`` and ``'w'``)."""

from __future__ import annotations

import keras
import tensorflow as tf

MODES = ("h", "w", "hw")


@keras.saving.register_keras_serializable(package="RMBG")
class AxialSelfAttention(keras.layers.Layer):
    """``gamma * attend(query, key, value) + x`` for projections computed outside this layer.

    Inputs ``[x, query, key, value]``, NHWC: ``x`` and ``value`` ``(N, H, W, C)``, ``query`` and
    ``key`` ``(N, H, W, C/8)`` (1x1 convolution + BatchNorm each, in the network). The reference
    flattens each NCHW map's memory into rows of length ``L`` (``L = H`` for ``'h'``, ``W`` for
    ``'w'``, ``H*W`` for ``'hw'``) and attends over the ``L`` positions; this layer reproduces
    that exactly, including for ``'h'`` on non-square maps, where those rows do not follow the
    height axis (``view(b, -1, H)`` of a ``(C, H, W)`` buffer). ``gamma`` starts at 0, so the
    block begins as the identity.

    Args:
        mode: ``"h"``, ``"w"`` or ``"hw"``.
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.mode = mode

    def build(self, input_shapes):
        self.gamma = self.add_weight(name="gamma", shape=(1,), initializer="zeros")
        self.built = True

    def call(self, inputs):
        x, query, key, value = inputs
        shape = tf.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        axis = {"h": height, "w": width, "hw": height * width}[self.mode]

        def rows(t):  # NCHW memory viewed as (N, -1, axis)
            return tf.reshape(tf.transpose(t, [0, 3, 1, 2]), [batch, -1, axis])

        attention = tf.nn.softmax(tf.matmul(rows(query), rows(key), transpose_a=True), axis=-1)  # (N, L, L)
        out = tf.matmul(rows(value), attention, transpose_b=True)  # (N, C*H*W/L, L)
        out = tf.transpose(tf.reshape(out, [batch, channels, height, width]), [0, 2, 3, 1])
        return tf.cast(self.gamma, out.dtype) * out + x

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
