"""Swin's patch merging: 2x2 neighbourhoods concatenated, normalised and projected (a stride-2 downsampling)."""

from __future__ import annotations

import keras
import tensorflow as tf

#: PyTorch's LayerNorm epsilon (Keras defaults to 1e-3).
LAYER_NORM_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="RMBG")
class PatchMerging(keras.layers.Layer):
    """``(N, H, W, C)`` → ``(N, ceil(H/2), ceil(W/2), 2C)``.

    An odd side is zero-padded at the bottom/right first. The four pixels of each 2x2 cell are
    concatenated in the official order (top-left, bottom-left, top-right, bottom-right), then
    ``norm`` (LayerNorm over 4C) and ``reduction`` (Dense 4C → 2C, no bias): sub-layers named as
    the PyTorch modules.

    Args:
        dim: input channels C.
    """

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")
        self.reduction = keras.layers.Dense(2 * self.dim, use_bias=False, name="reduction")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.dim:
            raise ValueError(f"layer {self.name}: expected {self.dim} input channels, got {input_shape[-1]}")
        self.norm.build((None, None, None, 4 * self.dim))
        self.reduction.build((None, None, None, 4 * self.dim))
        self.built = True

    def call(self, x):
        shape = tf.shape(x)
        x = tf.pad(x, [[0, 0], [0, shape[1] % 2], [0, shape[2] % 2], [0, 0]])
        x = tf.concat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
        return self.reduction(self.norm(x))

    def compute_output_shape(self, input_shape):
        def half(size):
            return None if size is None else (size + 1) // 2

        return (input_shape[0], half(input_shape[1]), half(input_shape[2]), 2 * self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}
